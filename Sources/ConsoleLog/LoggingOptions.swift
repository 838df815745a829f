import Commands
import Logging

/// `--log-level`, the one logging option of every long-running command (run, parent serve,
/// parent vsock-proxy): declared here once, so its name, values and help cannot drift apart.
public struct LoggingOptions: Sendable {
    public static let options = [
        OptionSpec("--log-level", value: "level", help: "trace, debug, info, notice, warning, error or critical (default: info)."),
    ]

    public var logLevel: Logger.Level

    public init(logLevel: Logger.Level = .info) { self.logLevel = logLevel }

    public init(_ arguments: ParsedArguments) throws(UsageError) {
        logLevel = try arguments.value("--log-level") ?? .info
    }

    /// Sends every logger's lines to the console at the chosen level, and each line to
    /// `record` too when given (`run`: the log stream). Once per process.
    public func bootstrap(record: ConsoleLogHandler.LineRecorder? = nil) {
        let level = logLevel
        LoggingSystem.bootstrap { ConsoleLogHandler(label: $0, level: level, record: record) }
    }
}

extension Logger.Level: ArgumentValue {
    public init?(argument: String) { self.init(rawValue: argument) }
    public static var expected: String { "one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", ") }
}
