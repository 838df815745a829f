import ArgumentParser
import ConsoleLog
import Logging
import PID1
import Supervisor

/// `enclave-init [run]`: boot and supervise. As PID 1 it never exits: it powers off.
struct RunCommand: ParsableCommand, SignalPolicyDeclaring {
    static let signalPolicy = SignalPolicy.supervise

    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot the enclave and supervise the app (the default command)."
    )

    @OptionGroup var options: ConfigOptions

    @OptionGroup var logging: LoggingOptions

    func run() throws {
        logging.bootstrap()
        let sequence = BootSequence(options: options, logger: Logger(label: "boot"))
        let code = sequence.run()
        // Exiting PID 1 panics the kernel; in a PID namespace power-off ends the namespace instead.
        // (The sequence has said which of the two it is, with the code.)
        if sequence.early.was_pid1 { PowerOff.now(exitCode: code) }
        throw ExitCode(code)
    }
}
