import Addressing
import BootConfig
import Commands
import ConsoleLog
import Control
import Glibc
import Logging
import Processes

/// `enclave-init parent stop`: a graceful stop from the parent instance. `nitro-cli
/// terminate-enclave` powers the enclave off at once (nothing inside hears of it); this asks
/// enclave-init over the control port to shut down as on SIGTERM, and waits until it has.
struct ParentStopCommand: Command {
    /// Its exit codes besides 0 (stopped) and 78 (invalid config), one per way it can fail.
    enum ExitCodes {
        /// Nothing answered on the control port, or the enclave could not be found (EX_UNAVAILABLE).
        static let unreachable: Int32 = 69
        /// No end within --timeout (EX_TEMPFAIL).
        static let timedOut: Int32 = 75
        /// The enclave refused, or something not enclave-init answered (EX_PROTOCOL).
        static let refused: Int32 = 76
    }

    static let spec = CommandSpec(
        name: "stop",
        abstract: "Stop the enclave gracefully over its control port, and wait until it has stopped.",
        discussion: """
        Sends `stop` to the enclave's control.vsock_port: enclave-init signals the app (SIGTERM), \
        waits shutdown.grace_seconds, kills what is left, syncs and unmounts NFS, then exits or \
        powers off. Run it before `nitro-cli terminate-enclave`.
        Exit codes: 0 stopped (the enclave's own exit code is printed); \(ExitCodes.unreachable) the control port \
        cannot be reached; \(ExitCodes.timedOut) no end within --timeout; \(ExitCodes.refused) the enclave refused or \
        did not speak the control protocol; 78 invalid config or no control section; 64 a usage error \
        (which enclave is not said, outside the emulation).
        Set ENCLAVE_INIT_VSOCK_DIR=DIR to use the Unix-socket emulation (the enclave is CID 16 unless given).
        """,
        options: EnclaveOptions.options + [
            OptionSpec("--timeout", value: "seconds", help: "Seconds to wait for the enclave to finish (default: shutdown.grace_seconds + 30)."),
        ] + LoggingOptions.options
    )

    let enclave: EnclaveOptions
    let timeout: Int?
    let logging: LoggingOptions

    init(_ arguments: ParsedArguments) throws(UsageError) {
        enclave = try EnclaveOptions(arguments)
        timeout = try arguments.value("--timeout")
        logging = try LoggingOptions(arguments)
        if let timeout, !(1...86_400).contains(timeout) {
            throw UsageError("--timeout \(timeout) is out of range 1-86400 seconds")
        }
        // Checked while parsing, so that the usage printed with it is this command's.
        if enclave.enclave(emulated: Self.emulation != nil) == nil {
            throw UsageError("which enclave? give --enclave-cid N or --enclave-name NAME (only the vsock emulation has a default)")
        }
    }

    private static var emulation: VsockEmulation? { VsockEmulation.fromEnvironment(defaultCID: VsockEmulation.defaultParentCID) }

    func run() throws {
        logging.bootstrap()
        let logger = Logger(label: "parent")
        let (path, bootConfig) = try enclave.loadConfig()
        guard let control = bootConfig.control else {
            Console.error("\(path): no control section: the enclave does not listen for `stop`; add \"control\": {\"vsock_port\": 9102} and boot it again")
            throw CommandExit(InitExitCode.invalidConfig)
        }
        let emulation = Self.emulation
        let cid = try enclaveCID(emulated: emulation != nil, logger: logger)
        let target = Endpoint.vsock(cid: cid, port: control.vsockPort)
        let endpoint = emulation?.emulate(connectingTo: target) ?? target
        let wait = Duration.seconds(timeout ?? bootConfig.shutdown.graceSeconds + 30)

        logger.info("asking the enclave to stop: \(target)\(endpoint == target ? "" : " (emulated: \(endpoint))"), waiting up to \(wait.components.seconds) s")
        // An enclave nitro-cli lists as RUNNING whose control port does not answer yet is still
        // booting (the port opens at step 6): keep asking until the timeout instead of giving up.
        // A bare CID proves nothing about a boot, and fails at once as before.
        let named: Bool
        if case .named? = enclave.enclave(emulated: emulation != nil) { named = true } else { named = false }
        let deadline = ContinuousClock.now + wait
        do throws(ControlClient.Failure) {
            var saidWaiting = false
            let stopped: ControlClient.Stopped
            while true {
                do throws(ControlClient.Failure) {
                    stopped = try ControlClient(endpoint: endpoint).stop(timeout: deadline - ContinuousClock.now) { answer in
                        if answer == .stopping { logger.info("the enclave is stopping") }
                    }
                    break
                } catch .timedOut(_, let acknowledged) {
                    throw ControlClient.Failure.timedOut(wait, acknowledged: acknowledged) // the whole --timeout, as asked
                } catch .unreachable(_, let code) where named && ContinuousClock.now + .milliseconds(250) < deadline {
                    if !saidWaiting {
                        logger.info("the enclave's control port does not answer yet (\(String(cString: strerror(code)))): it is RUNNING, so it may still be booting; asking again until the timeout")
                        saidWaiting = true
                    }
                    usleep(250_000)
                }
            }
            switch stopped {
            case .exited(let code, let powerOff):
                logger.notice("the enclave stopped: exit code \(code)\(powerOff ? ", powering off" : "")")
            case .closed:
                logger.notice("the enclave stopped: it closed the control connection (powered off)")
            }
        } catch {
            logger.error("\(error)")
            switch error {
            case .unreachable: throw CommandExit(ExitCodes.unreachable)
            case .timedOut: throw CommandExit(ExitCodes.timedOut)
            case .refused, .protocolViolation: throw CommandExit(ExitCodes.refused)
            }
        }
    }

    /// The enclave's CID by the parent commands' one rule (EnclaveOptions.enclave); a name is
    /// looked up now.
    private func enclaveCID(emulated: Bool, logger: Logger) throws -> UInt32 {
        switch enclave.enclave(emulated: emulated) {
        case .cid(let cid):
            return cid
        case .named(let name):
            do {
                return try EnclaveLocator(name: name).cid()
            } catch {
                logger.error("\(error)")
                throw CommandExit(ExitCodes.unreachable)
            }
        case nil:
            throw UsageError("which enclave? give --enclave-cid N or --enclave-name NAME")
        }
    }
}
