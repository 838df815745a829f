import NIOCore

/// The two streams to the parent (docs/design.md, 3. Wire formats: `logs` and `status`).
public enum StreamKind: String, Sendable, CaseIterable {
    case logs
    case status
}

/// Where a log line came from.
public enum LogSource: String, Sendable, CaseIterable {
    /// enclave-init's own log lines, as the console shows them.
    case `init`
    case stdout
    case stderr
}

/// One entry of a stream, numbered by `seq` (from 1, per stream and boot, without reuse):
/// the parent acknowledges by seq and drops what it has already seen.
struct StreamRecord: Sendable {
    enum Payload: Sendable {
        case line(LogSource, ByteBuffer)
        case event(StatusEvent)
        /// Stands for `count` records that the full buffer dropped; its seq is the last of them.
        case dropped(count: Int, firstSeq: UInt64)
    }

    var seq: UInt64
    /// Nanoseconds since enclave-init started (the console's clock).
    var time: Int64
    var payload: Payload

    /// What the record costs the buffer: its text plus a fixed overhead for the bookkeeping.
    var cost: Int {
        switch payload {
        case .line(_, let bytes): return bytes.readableBytes + 48
        case .event(let event): return event.name.rawValue.utf8.count + event.fields.count * 32 + 48
        case .dropped: return 48
        }
    }

    /// `{"seq":N,"t":MS,"stream":"stdout","line":"..."}` or `{"seq":N,"t":MS,"event":"app_started","pid":42}`,
    /// with a newline. t is milliseconds since enclave-init started, to the microsecond.
    func encode(into out: inout ByteBuffer) {
        out.writeStaticString("{\"seq\":")
        out.writeString(String(seq))
        out.writeStaticString(",\"t\":")
        out.writeString(Self.milliseconds(time))
        switch payload {
        case .line(let source, let bytes):
            out.writeStaticString(",\"stream\":\"")
            out.writeString(source.rawValue)
            out.writeStaticString("\",\"line\":")
            JSONText.writeString(bytes.readableBytesView, into: &out)
        case .event(let event):
            out.writeStaticString(",\"event\":")
            JSONText.writeString(event.name.rawValue.utf8, into: &out)
            for (key, value) in event.fields {
                out.writeStaticString(",")
                JSONText.writeString(key.utf8, into: &out)
                out.writeStaticString(":")
                switch value {
                case .string(let text): JSONText.writeString(text.utf8, into: &out)
                case .integer(let number): out.writeString(String(number))
                case .bool(let flag): out.writeString(flag ? "true" : "false")
                }
            }
        case .dropped(let count, let firstSeq):
            out.writeStaticString(",\"stream\":\"init\",\"line\":")
            JSONText.writeString(Self.dropNotice(count: count, firstSeq: firstSeq, lastSeq: seq).utf8, into: &out)
            out.writeStaticString(",\"dropped\":")
            out.writeString(String(count))
            out.writeStaticString(",\"first_seq\":")
            out.writeString(String(firstSeq))
        }
        out.writeStaticString("}\n")
    }

    /// The line of a drop notice; the parent words it again when it had part of the range.
    static func dropNotice(count: Int, firstSeq: UInt64, lastSeq: UInt64) -> String {
        "enclave-init: log buffer full: \(count) records dropped (seq \(firstSeq)-\(lastSeq)) before the parent received them"
    }

    /// "12.345": milliseconds with three decimals.
    static func milliseconds(_ nanoseconds: Int64) -> String {
        let micros = max(0, nanoseconds / 1000)
        let fraction = String(micros % 1000)
        return "\(micros / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}
