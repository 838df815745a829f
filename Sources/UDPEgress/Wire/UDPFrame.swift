import Addressing
import NIOCore

/// What the two halves say on egress.udp's vsock stream. Vsock on Nitro carries streams only,
/// so each datagram is a frame: a type byte, the flow's number (the enclave's own, so the
/// parent never learns the app's port or address), a 2-byte length and that many bytes.
///
///     enclave -> parent   open(flow, destination, name), datagram(flow, bytes), close(flow)
///     parent -> enclave   datagram(flow, bytes), refused(flow, reason), unreachable(flow), close(flow)
///
/// Anything else — an unknown type, a frame longer than its type allows, a frame the other
/// side never sends — is a protocol error that closes the stream (never the process).
public enum UDPFrame: Equatable, Sendable {
    /// A new flow to `destination`; `name` is the name the enclave's policy allowed it by
    /// (empty: allowed as an address), so the parent can check the same rule.
    case open(flow: UInt32, destination: UDPEndpoint, name: String)
    case datagram(flow: UInt32, payload: ByteBuffer)
    /// The flow is over (idle, evicted, or its socket failed on the parent).
    case close(flow: UInt32)
    /// The parent's own checks refused the flow; the reason is for the enclave's log.
    case refused(flow: UInt32, reason: String)
    /// The destination answered with ICMP port unreachable.
    case unreachable(flow: UInt32)

    enum Kind: UInt8 {
        case open = 1, datagram = 2, close = 3, refused = 4, unreachable = 5
    }

    static let headerLength = 7
    /// A refusal's reason is cut to this many bytes.
    static let maximumReason = 512

    public var flow: UInt32 {
        switch self {
        case .open(let flow, _, _), .datagram(let flow, _), .close(let flow), .refused(let flow, _), .unreachable(let flow): return flow
        }
    }

    /// Whether the parent half may send this (the enclave's decoder refuses the rest).
    var isFromParent: Bool {
        switch self {
        case .datagram, .refused, .unreachable, .close: return true
        case .open: return false
        }
    }

    /// Whether the enclave half may send this (the parent's decoder refuses the rest).
    var isFromEnclave: Bool {
        switch self {
        case .open, .datagram, .close: return true
        case .refused, .unreachable: return false
        }
    }

    /// At least the frame's size on the wire (exact for a datagram; the largest an open or a
    /// refusal can be otherwise): what a buffer for it reserves, and what a bound counts.
    var maximumSize: Int {
        switch self {
        case .datagram(_, let payload): return Self.headerLength + payload.readableBytes
        case .open: return Self.headerLength + 7 + 255
        case .refused: return Self.headerLength + Self.maximumReason
        case .close, .unreachable: return Self.headerLength
        }
    }

    /// The frame's bytes, appended to `buffer`.
    public func write(to buffer: inout ByteBuffer) {
        switch self {
        case .open(let flow, let destination, let name):
            let nameBytes = Array(name.utf8.prefix(255))
            header(.open, flow, 7 + nameBytes.count, &buffer)
            buffer.writeInteger(destination.address.value)
            buffer.writeInteger(destination.port)
            buffer.writeInteger(UInt8(nameBytes.count))
            buffer.writeBytes(nameBytes)
        case .datagram(let flow, let payload):
            header(.datagram, flow, payload.readableBytes, &buffer)
            buffer.writeImmutableBuffer(payload)
        case .close(let flow):
            header(.close, flow, 0, &buffer)
        case .refused(let flow, let reason):
            let bytes = Array(reason.utf8.prefix(Self.maximumReason))
            header(.refused, flow, bytes.count, &buffer)
            buffer.writeBytes(bytes)
        case .unreachable(let flow):
            header(.unreachable, flow, 0, &buffer)
        }
    }

    private func header(_ kind: Kind, _ flow: UInt32, _ length: Int, _ buffer: inout ByteBuffer) {
        buffer.writeInteger(kind.rawValue)
        buffer.writeInteger(flow)
        buffer.writeInteger(UInt16(length))
    }

    /// Why a stream was closed: what the peer sent that no frame can be.
    public struct ProtocolError: Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Reads one frame from the front of `buffer` when it is all there (nil: wait for more).
    static func read(from buffer: inout ByteBuffer) throws(ProtocolError) -> UDPFrame? {
        guard let kindByte: UInt8 = buffer.getInteger(at: buffer.readerIndex),
              let flow: UInt32 = buffer.getInteger(at: buffer.readerIndex + 1),
              let length: UInt16 = buffer.getInteger(at: buffer.readerIndex + 5) else { return nil }
        guard let kind = Kind(rawValue: kindByte) else { throw ProtocolError(description: "unknown frame type \(kindByte)") }
        let size = Int(length)
        switch kind {
        case .datagram where size > IPv4Packet.maximumPayload:
            throw ProtocolError(description: "a \(size)-byte datagram (at most \(IPv4Packet.maximumPayload))")
        case .open where size < 7 || size > 7 + 255:
            throw ProtocolError(description: "an open frame of \(size) bytes")
        case .close where size != 0, .unreachable where size != 0:
            throw ProtocolError(description: "a \(kind) frame with \(size) bytes")
        case .refused where size > maximumReason:
            throw ProtocolError(description: "a \(size)-byte refusal")
        default:
            break
        }
        guard buffer.readableBytes >= headerLength + size else { return nil }
        buffer.moveReaderIndex(forwardBy: headerLength)
        var body = buffer.readSlice(length: size)!
        switch kind {
        case .open:
            let address: UInt32 = body.readInteger()!, port: UInt16 = body.readInteger()!, nameLength: UInt8 = body.readInteger()!
            guard Int(nameLength) == body.readableBytes, let name = body.readString(length: Int(nameLength)) else {
                throw ProtocolError(description: "an open frame whose name length does not match")
            }
            guard port != 0 else { throw ProtocolError(description: "an open frame for port 0") }
            return .open(flow: flow, destination: UDPEndpoint(IPv4Address(address), port), name: name)
        case .datagram:
            return .datagram(flow: flow, payload: body)
        case .close:
            return .close(flow: flow)
        case .refused:
            return .refused(flow: flow, reason: body.readString(length: body.readableBytes) ?? "")
        case .unreachable:
            return .unreachable(flow: flow)
        }
    }
}

/// Splits the stream into frames; a frame the receiving side never gets from its peer (an
/// `open` from the parent, a `refused` from the enclave) is a protocol error like any other.
struct UDPFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = UDPFrame

    enum Receiver { case enclave, parent }
    let receiver: Receiver

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try UDPFrame.read(from: &buffer) else { return .needMoreData }
        let allowed = receiver == .enclave ? frame.isFromParent : frame.isFromEnclave
        guard allowed else {
            throw UDPFrame.ProtocolError(description: "a frame the \(receiver == .enclave ? "parent" : "enclave") never sends (\(frame.kindName))")
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

extension UDPFrame {
    var kindName: String {
        switch self {
        case .open: "open"
        case .datagram: "datagram"
        case .close: "close"
        case .refused: "refused"
        case .unreachable: "unreachable"
        }
    }
}
