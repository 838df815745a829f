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
        // Exiting the initial namespace's PID 1 panics the kernel: it powers off instead. A
        // container's init exits with the app's status, like tini. (The sequence has said which.)
        if sequence.kind.powersOff { PowerOff.now(exitCode: code) }
        throw ExitCode(code)
    }
}
