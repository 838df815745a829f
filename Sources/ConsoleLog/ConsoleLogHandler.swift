import CSupport
import Glibc
import Logging

/// One console line per event: milliseconds since enclave-init started, level, component,
/// message and metadata. Written to stderr with a single write(2) so that lines from several
/// threads never interleave mid-line.
/// `record`, when given, also gets each line (without its newline): `run` passes the log
/// stream's recorder, so the console's lines reach the parent too. Handed in, not reached for,
/// so this module knows nothing of the streams.
public struct ConsoleLogHandler: LogHandler {
    public typealias LineRecorder = @Sendable (String) -> Void

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let component: String
    private let record: LineRecorder?

    public init(label: String, level: Logger.Level, record: LineRecorder? = nil) {
        self.component = label
        self.logLevel = level
        self.record = record
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        var line = "[\(Self.elapsedMilliseconds()) ms] \(Self.tag(event.level)) \(component): \(event.message)"
        if !merged.isEmpty {
            line += " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        record?(line)
        line += "\n"
        Console.write(line)
    }

    /// "12.3": the boot sequence reports each step's time against this clock.
    public static func elapsedMilliseconds() -> String {
        let nanoseconds = Console.monotonicNanoseconds() - Int64(ei_early().pointee.started_ns)
        let tenths = max(0, nanoseconds / 100_000)
        let text = "\(tenths / 10).\(tenths % 10)"
        return String(repeating: " ", count: max(0, 7 - text.count)) + text
    }

    private static func tag(_ level: Logger.Level) -> String {
        switch level {
        case .trace: return "trace"
        case .debug: return "debug"
        case .info: return "info "
        case .notice: return "note "
        case .warning: return "warn "
        case .error: return "ERROR"
        case .critical: return "CRIT "
        }
    }
}
