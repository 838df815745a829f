import Commands
import DocumentReading
import NIOCore

/// The wire format of both streams, newline-delimited JSON over one vsock connection per stream.
///
///     enclave -> parent   {"hello":1,"stream":"logs","boot":"9f2c...","release":"0.1.0"}   once per connection
///                         {"seq":1,"t":12.345,"stream":"stdout","line":"..."}   (logs)
///                         {"seq":1,"t":12.345,"event":"app_started","pid":42}   (status)
///     parent -> enclave   {"ack":N}     everything up to seq N arrived; sent after each read
///
/// After a reconnect the enclave resends from the last acknowledged record; the parent skips
/// seqs it has already seen for that boot. `boot` tells one boot of the enclave from the next
/// (seq starts at 1 again). `hello` is the stream protocol's version: a parent half that speaks
/// another refuses the connection, saying both; `release` is the enclave's enclave-init
/// version, which the parent compares with its own (the halves are tested together only at the
/// same release). The streams are the one channel every deployment has, so that is where a
/// mismatched pair of halves is told.
public enum StreamProtocol {
    public static let version = 1
    /// A longer line from the enclave is a protocol error (records carry at most 16 KiB of text,
    /// at most six bytes each once escaped).
    public static let maximumLineLength = 128 * 1024

    static func hello(kind: StreamKind, boot: String, release: String = BuildInfo.version) -> String {
        "{\"hello\":\(version),\"stream\":\"\(kind.rawValue)\",\"boot\":\"\(boot)\",\"release\":\(JSONOutput.string(release).rendered(pretty: false))}\n"
    }

    static func ack(_ seq: UInt64) -> String { "{\"ack\":\(seq)}\n" }

    /// A line the parent received, decoded.
    public enum Message: Sendable, Equatable {
        /// `version`: the protocol's; `release`: the enclave's enclave-init, when it says.
        case hello(kind: String, boot: String, version: Int64, release: String?)
        case record(seq: UInt64, fields: [String: JSONValue], raw: String)
        case ack(UInt64)
    }

    public struct MalformedLine: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses one line (without its newline).
    public static func decode(_ line: some Collection<UInt8>) throws -> Message {
        let root: JSONNode
        do {
            root = try JSONParser.parse(line)
        } catch {
            throw MalformedLine(description: "not JSON: \(error.message)")
        }
        guard case .object(let members) = root.value else { throw MalformedLine(description: "not a JSON object") }
        var fields: [String: JSONValue] = [:]
        for member in members { fields[member.key] = member.value.value }
        if case .number(let number)? = fields["ack"], let seq = number.integer, seq >= 0 {
            return .ack(UInt64(seq))
        }
        if case .number(let number)? = fields["hello"] {
            guard let version = number.integer else { throw MalformedLine(description: "hello's version is not an integer") }
            guard case .string(let kind)? = fields["stream"], case .string(let boot)? = fields["boot"] else {
                throw MalformedLine(description: "hello without stream and boot")
            }
            var release: String?
            if case .string(let text)? = fields["release"] { release = text }
            return .hello(kind: kind, boot: boot, version: version, release: release)
        }
        guard case .number(let number)? = fields["seq"], let seq = number.integer, seq > 0 else {
            throw MalformedLine(description: "a record without a positive integer seq")
        }
        return .record(seq: UInt64(seq), fields: fields, raw: String(decoding: line, as: UTF8.self))
    }
}

/// Splits a byte stream into lines of at most `maximum` bytes (without the newline).
struct LineFramer {
    let maximum: Int
    private var pending = ByteBuffer()

    init(maximum: Int) {
        self.maximum = maximum
    }

    struct TooLong: Error {}

    /// Every complete line in `bytes` appended to what was pending.
    mutating func lines(in bytes: inout ByteBuffer) throws -> [ByteBuffer] {
        pending.writeBuffer(&bytes)
        var lines: [ByteBuffer] = []
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex
            lines.append(pending.readSlice(length: length)!)
            pending.moveReaderIndex(forwardBy: 1)
        }
        if pending.readableBytes > maximum { throw TooLong() }
        pending.discardReadBytes()
        return lines
    }
}
