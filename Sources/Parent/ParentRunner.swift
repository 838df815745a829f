import Addressing
import Commands
import BootConfig
import ConsoleLog
import DNS
import Glibc
import Logging
import Relay
import Services
import Streams
import Processes
import TimeSync

/// What both parent commands share: logging, the allowlist check, and serving routes until
/// SIGTERM or SIGINT.
struct ParentRunner {
    let logger: Logger
    /// The vsock emulation every service of this process binds through (nil: real vsock).
    let emulation = VsockEmulation.fromEnvironment(defaultCID: VsockEmulation.defaultParentCID)

    init(logging: LoggingOptions) {
        logging.bootstrap()
        logger = Logger(label: "parent")
    }

    /// Refuses to start when a remote is not in the allowlist (every refusal is listed).
    func check(remotes: [(origin: String, remote: HostPort)], againstAllowlistAt path: String) throws {
        let allowlist: VsockProxyAllowlist
        do {
            allowlist = try VsockProxyAllowlist.load(path: path)
        } catch {
            logger.error("\(error)")
            throw CommandExit(InitExitCode.invalidConfig)
        }
        let refused = remotes.filter { !allowlist.permits($0.remote) }
        guard !refused.isEmpty else { return }
        for (origin, remote) in refused {
            logger.error("\(origin): \(remote) is not in the allowlist \(path); add \"- {address: \(remote.host), port: \(remote.port)}\" to allow it")
        }
        throw CommandExit(InitExitCode.invalidConfig)
    }

    /// What to do with the enclave's log and status streams, if the config has them.
    struct StreamOptions {
        var sink: ParentStreams
        /// Exit with the enclave's exit code once it has reported it.
        var exitWithEnclave: Bool
        /// With exitWithEnclave: the enclave is gone when its status stream has been closed
        /// this long without a shutdown.
        var goneAfter: Duration = ParentRunner.defaultGoneAfter
        /// With exitWithEnclave and --enclave-name: nitro-cli's word on the enclave's state.
        var stateWatch: EnclaveStateWatch?
    }

    static let defaultGoneAfter: Duration = .seconds(15)
    /// The code when the enclave went away without saying how (EX_UNAVAILABLE).
    static let enclaveGone: Int32 = 69

    /// After `shutdown` arrives, how long the log records still in flight get.
    static let logsGrace: Duration = .seconds(3)

    /// Starts `services` in order (one line each: where it listens), then serves until SIGTERM or
    /// SIGINT (exit 0) or, with --exit-with-enclave, until the enclave reports its exit code
    /// (that code); then stops them in reverse. When one cannot start, those before it stop
    /// again and the command fails (70).
    func serve(_ services: [any Service], streams: StreamOptions? = nil, source: String) throws {
        guard !services.isEmpty else {
            logger.error("\(source): nothing to serve (no hosts[], ingress[], egress, dns, clock, kms, logs or status)")
            throw CommandExit(InitExitCode.bootStepFailed)
        }
        let running: RunningServices
        do {
            running = try RunningServices.start(services)
        } catch {
            logger.error("\(error)")
            throw CommandExit(InitExitCode.bootStepFailed)
        }
        for listening in running.listening { logger.info("listening: \(listening.withEmulation)") }

        if streams?.exitWithEnclave == true { streams?.stateWatch?.start() }
        let result = waitForTheEnd(streams)
        streams?.stateWatch?.stop()
        running.stop()
        if let report = Console.dropReport { logger.warning("\(report)") }
        if let last = streams?.sink.lastStatus { logger.info("the enclave's last status: \(last)") }
        switch result {
        case .signal: break
        case .reported(let code):
            logger.notice("the enclave reported exit code \(code): exiting with it (--exit-with-enclave)")
            throw CommandExit(code)
        case .gone:
            throw CommandExit(Self.enclaveGone)
        }
    }

    private enum End {
        /// SIGTERM or SIGINT.
        case signal
        /// --exit-with-enclave: the code the enclave reported.
        case reported(Int32)
        /// --exit-with-enclave: its status stream went silent without a shutdown.
        case gone
    }

    private func waitForTheEnd(_ streams: StreamOptions?) -> End {
        let clock = ContinuousClock()
        var announced: ContinuousClock.Instant?
        while true {
            // SIGTERM and SIGINT stay blocked from the early constructor on: taken here, not fatal.
            if let signal = Signals.wait(for: [SIGTERM, SIGINT], timeout: streams?.exitWithEnclave == true ? .milliseconds(50) : nil) {
                logger.notice("received \(signal.name): closing listeners, draining open connections")
                return .signal
            }
            guard let streams, streams.exitWithEnclave else { continue }
            if let code = streams.sink.enclaveResult { return .reported(code) }
            if let said = streams.stateWatch?.gone {
                logger.error("\(said): the enclave is gone (a kernel panic, terminate-enclave from elsewhere); exiting with \(Self.enclaveGone)")
                return .gone
            }
            if let silent = streams.sink.silentFor, silent >= streams.goneAfter {
                let seconds = silent.components.seconds
                logger.error("the enclave's status stream closed \(seconds) s ago without a shutdown and has not come back: the enclave is gone (a kernel panic, terminate-enclave from elsewhere, a power loss); exiting with \(Self.enclaveGone)")
                return .gone
            }
            if let code = streams.sink.announcedExitCode {
                let since = announced ?? clock.now
                announced = since
                if clock.now - since >= Self.logsGrace {
                    logger.warning("the enclave said shutdown but its log stream stayed open for \(Self.logsGrace); exiting without waiting longer")
                    return .reported(code)
                }
            }
        }
    }
}
