import ArgumentParser
import Logging

/// `--log-level`, the one logging option of every long-running command (run, parent serve,
/// parent vsock-proxy): declared here once, so its name, values and help cannot drift apart.
public struct LoggingOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    public var logLevel: Logger.Level = .info

    public init() {}

    /// Sends every logger's lines to the console (and, under `run`, to the log stream) at the
    /// chosen level. Once per process.
    public func bootstrap() {
        let level = logLevel
        LoggingSystem.bootstrap { ConsoleLogHandler(label: $0, level: level) }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
