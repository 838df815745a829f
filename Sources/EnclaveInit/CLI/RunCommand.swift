import Commands
import ConsoleLog
import Logging
import Streams
import PID1
import Processes

/// `enclave-init [run]`: boot and supervise. As PID 1 it never exits: it powers off.
public struct RunCommand: Command {
    public static let signalPolicy = SignalPolicy.supervise

    public static let spec = ConfigOptions.spec(
        "run",
        abstract: "Boot the enclave and supervise the app (the default command).",
        usageName: "[run]",
        discussion: """
        Exit codes: the app's own; 128+N when signal N ended it; 126 not executable; 127 not found;
        78 invalid config; 70 a boot step failed (the message names it); 64 a usage error. As the \
        enclave's own init it powers off instead of exiting.
        """
    )

    let options: ConfigOptions

    public init(_ arguments: ParsedArguments) throws(UsageError) { options = try ConfigOptions(arguments) }

    public func run() throws {
        // Console lines go to the log stream too, once the boot has one (InitLog holds the
        // early ones until then).
        options.logging.bootstrap(record: { InitLog.record($0) })
        let sequence = BootSequence(options: options, logger: Logger(label: "boot"))
        let code = sequence.run()
        // Exiting the initial namespace's PID 1 panics the kernel: it powers off instead. A
        // container's init exits with the app's status, like tini. (The sequence has said which.)
        if sequence.kind.powersOff { PowerOff.now(exitCode: code) }
        throw CommandExit(code)
    }
}
