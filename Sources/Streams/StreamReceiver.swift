import DocumentReading
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Services
import Addressing
import Commands

/// What the parent half does with records that are new (never seen before for that boot).
public protocol StreamSink: Sendable {
    func received(_ record: ReceivedRecord)
    /// An enclave's connection for `kind` said hello (it is there, whether or not it sends).
    func connected(kind: StreamKind, boot: String)
    /// The enclave's connection for `kind` ended (it may come back and resend). `boot` is nil
    /// for a connection that ended before its hello (it never counted as connected).
    func disconnected(kind: StreamKind, boot: String?)
}

extension StreamSink {
    public func connected(kind: StreamKind, boot: String) {}
}

/// One record as the parent got it: the decoded fields and the line as sent.
public struct ReceivedRecord: Sendable {
    public var kind: StreamKind
    public var boot: String
    public var seq: UInt64
    public var fields: [String: JSONValue]
    public var raw: String

    public func string(_ key: String) -> String? {
        if case .string(let text)? = fields[key] { return text }
        return nil
    }

    public func integer(_ key: String) -> Int64? {
        if case .number(let number)? = fields[key] { return number.integer }
        return nil
    }

    /// The status event this record carries, typed; nil for log records and for events this
    /// build does not know (the raw line still says what arrived).
    public var statusEvent: StatusEvent? { kind == .status ? StatusEvent(record: fields) : nil }
}

/// The parent end of one stream: listens on vsock (or its emulation), hands every record it has
/// not seen before to the sink, in order, and acknowledges after each read, so the enclave can
/// free its buffer. Seqs are remembered per boot, which makes a resend after a reconnect harmless.
public final class StreamReceiver: Service, Sendable {
    public let kind: StreamKind
    public var listen: ListenAddress { listener.address }
    private let listener: SocketListener
    private let sink: StreamSink
    private let logger: Logger
    private let releaseMismatchSaid = NIOLockedValueBox(false)
    /// The last seq handed to the sink, per boot id (the latest few boots only).
    private let seen = NIOLockedValueBox<[(boot: String, seq: UInt64)]>([])

    public init(kind: StreamKind, listen: ListenAddress, emulation: VsockEmulation?, sink: StreamSink, logger: Logger) {
        self.kind = kind
        listener = SocketListener(listen, emulation: emulation)
        self.sink = sink
        self.logger = logger
    }

    public var listening: [Listening] { [listener.listening("\(kind.rawValue) stream \(listen)")] }

    /// Listens (with the vsock emulation applied); throws if it cannot.
    public func start() throws {
        try listener.start { [self] channel in try channel.pipeline.syncOperations.addHandler(RecordHandler(receiver: self)) }
    }

    public func stop() { listener.stop() }

    // MARK: - From the connections

    /// The seq the parent has for `boot` (0: nothing yet).
    fileprivate func lastSeen(boot: String) -> UInt64 {
        seen.withLockedValue { list in list.last(where: { $0.boot == boot })?.seq ?? 0 }
    }

    /// Hands the record on when it is new; returns the seq to acknowledge.
    fileprivate func deliver(boot: String, seq: UInt64, fields: [String: JSONValue], raw: String) -> UInt64 {
        let previous: UInt64? = seen.withLockedValue { list in
            if let index = list.lastIndex(where: { $0.boot == boot }) {
                let previous = list[index].seq
                guard seq > previous else { return nil }
                list[index].seq = seq
                return previous
            }
            list.append((boot, seq))
            if list.count > 16 { list.removeFirst() }
            return 0
        }
        if let previous {
            let fields = Self.counted(fields, seq: seq, after: previous)
            sink.received(ReceivedRecord(kind: kind, boot: boot, seq: seq, fields: fields, raw: raw))
        }
        return lastSeen(boot: boot)
    }

    /// A drop notice counts every record the enclave's buffer let go unacknowledged, but the
    /// parent may have got the first of them before a reconnect: it says only what is missing.
    static func counted(_ fields: [String: JSONValue], seq: UInt64, after previous: UInt64) -> [String: JSONValue] {
        guard fields["dropped"] != nil, case .number(let number)? = fields["first_seq"], let first = number.integer,
              first > 0, UInt64(first) <= previous else { return fields }
        var fields = fields
        let missing = Int(seq - previous)
        fields["dropped"] = .number(JSONNumber(text: String(missing)))
        fields["first_seq"] = .number(JSONNumber(text: String(previous + 1)))
        fields["line"] = .string(StreamRecord.dropNotice(count: missing, firstSeq: previous + 1, lastSeq: seq))
        return fields
    }

    fileprivate func began(boot: String) {
        sink.connected(kind: kind, boot: boot)
    }

    fileprivate func ended(boot: String?) {
        sink.disconnected(kind: kind, boot: boot)
    }

    /// The enclave's release against ours, said once: the wire still matches, but the pair was
    /// never tested together.
    fileprivate func compareRelease(_ release: String?) {
        guard let release, release != BuildInfo.version, BuildInfo.commit != nil else { return }
        let first = releaseMismatchSaid.withLockedValue { said in defer { said = true }; return !said }
        guard first else { return }
        let text = "\(kind.rawValue) stream: the enclave runs enclave-init \(release), this parent half \(BuildInfo.version): "
            + "the halves are tested together only at the same release"
        logger.warning("\(text)")
    }

    fileprivate func refuse(_ reason: String) {
        logger.warning("\(kind.rawValue) stream: closed a connection: \(reason)")
    }
}

/// One enclave connection: hello first, then records; an ack after each read that brought any.
private final class RecordHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let receiver: StreamReceiver
    private var framer = LineFramer(maximum: StreamProtocol.maximumLineLength)
    private var boot: String?
    private var toAcknowledge: UInt64?

    init(receiver: StreamReceiver) {
        self.receiver = receiver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        do {
            for line in try framer.lines(in: &bytes) { try handle(line) }
        } catch let error as StreamProtocol.MalformedLine {
            receiver.refuse(error.description)
            context.close(promise: nil)
        } catch {
            receiver.refuse("a line longer than \(StreamProtocol.maximumLineLength) bytes")
            context.close(promise: nil)
        }
    }

    private func handle(_ line: ByteBuffer) throws {
        let message = try StreamProtocol.decode(line.readableBytesView)
        switch message {
        case .hello(let kind, let boot, let version, let release):
            guard version == StreamProtocol.version else {
                throw StreamProtocol.MalformedLine(description: "the enclave speaks stream protocol \(version)\(release.map { " (enclave-init \($0))" } ?? ""), "
                    + "this parent half \(StreamProtocol.version) (enclave-init \(BuildInfo.version)): run the same enclave-init release on both halves")
            }
            guard kind == receiver.kind.rawValue else {
                throw StreamProtocol.MalformedLine(description: "a \(kind) stream arrived on the \(receiver.kind.rawValue) port")
            }
            receiver.compareRelease(release)
            if self.boot == nil { receiver.began(boot: boot) }
            self.boot = boot
        case .record(let seq, let fields, let raw):
            guard let boot else { throw StreamProtocol.MalformedLine(description: "a record before the hello") }
            toAcknowledge = receiver.deliver(boot: boot, seq: seq, fields: fields, raw: raw)
        case .ack:
            throw StreamProtocol.MalformedLine(description: "an ack from the enclave")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let seq = toAcknowledge {
            toAcknowledge = nil
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: StreamProtocol.ack(seq))), promise: nil)
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        receiver.ended(boot: boot)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
