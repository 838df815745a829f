import ArgumentParser
import Logging
import Supervisor

/// `enclave-init [run]`: boot and supervise. As PID 1 it never exits: it powers off.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot the enclave and supervise the app (the default command)."
    )

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel: Logger.Level = .info

    func run() throws {
        let level = logLevel
        LoggingSystem.bootstrap { ConsoleLogHandler(label: $0, level: level) }
        let sequence = BootSequence(options: options, logger: Logger(label: "boot"))
        let code = sequence.run()
        // Exiting PID 1 panics the kernel; in a PID namespace power-off ends the namespace instead.
        // (The sequence has said which of the two it is, with the code.)
        if sequence.early.was_pid1 { PowerOff.now(exitCode: code) }
        throw ExitCode(code)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
