import Addressing
import Commands
import BootConfig
import ConsoleLog
import DNS
import Glibc
import Logging
import Relay
import Streams
import Processes
import TimeSync

/// What both parent commands share: logging, the allowlist check, and serving routes until
/// SIGTERM or SIGINT.
struct ParentRunner {
    let logger: Logger

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
        var receivers: [StreamReceiver]
        /// Exit with the enclave's exit code once it has reported it.
        var exitWithEnclave: Bool
    }

    /// After `shutdown` arrives, how long the log records still in flight get.
    static let logsGrace: Duration = .seconds(3)

    /// Listens on every route and stream (one line each), then serves until SIGTERM or SIGINT
    /// (exit 0) or, with --exit-with-enclave, until the enclave reports its exit code (that code).
    /// `dns`: the enclave's DNS port, answered with this machine's resolvers; `clock`: where
    /// this machine's CLOCK_REALTIME is served.
    func serve(_ routes: [RelayRoute], streams: StreamOptions? = nil, dns: ListenAddress? = nil, clock: ListenAddress? = nil,
               source: String) throws {
        guard !routes.isEmpty || !(streams?.receivers.isEmpty ?? true) || dns != nil || clock != nil else {
            logger.error("\(source): nothing to serve (no hosts[], ingress[], egress, dns, clock, logs or status)")
            throw CommandExit(InitExitCode.bootStepFailed)
        }
        let emulation = VsockEmulation.fromEnvironment(defaultCID: VsockEmulation.defaultParentCID)
        let service: RelayService
        let listeners: StreamListeners
        do {
            service = try RelayService(routes: routes, emulation: emulation, logger: Logger(label: "relay"))
            listeners = try StreamListeners(streams?.receivers ?? [], emulation: emulation)
        } catch {
            logger.error("\(error)")
            throw CommandExit(InitExitCode.bootStepFailed)
        }
        // The DNS forwarder and the clock server: either fails to listen, everything stops.
        func startOrStop<Server>(_ what: String, at address: ListenAddress?, _ start: (ListenAddress) throws -> Server) throws -> Server? {
            guard let address else { return nil }
            do {
                return try start(address)
            } catch {
                listeners.stop()
                service.stop()
                logger.error("cannot listen on \(address.emulated(by: emulation)) for \(what): \(error)")
                throw CommandExit(InitExitCode.bootStepFailed)
            }
        }
        let forwarder = try startOrStop("dns", at: dns) { address in
            let forwarder = DNSForwarder(listen: address, logger: Logger(label: "dns"))
            try forwarder.start(emulation: emulation)
            return forwarder
        }
        let clockServer: ClockServer?
        do {
            clockServer = try startOrStop("clock", at: clock) { address in
                let server = ClockServer(listen: address, logger: Logger(label: "clock"))
                try server.start(emulation: emulation)
                return server
            }
        } catch {
            forwarder?.stop()
            throw error
        }
        func via(_ address: ListenAddress) -> String {
            let emulated = address.emulated(by: emulation)
            return emulated == address ? "" : " (emulated: \(emulated))"
        }
        for listener in service.listeners { logger.info("listening: \(listener.route)\(via(listener.route.listen))") }
        for receiver in listeners.receivers { logger.info("listening: \(receiver.kind.rawValue) stream \(receiver.listen)\(via(receiver.listen))") }
        if let forwarder { logger.info("listening: dns \(forwarder.listen)\(via(forwarder.listen)) -> this machine's resolvers (/etc/resolv.conf)") }
        if let clockServer { logger.info("listening: clock \(clockServer.listen)\(via(clockServer.listen)) -> this machine's CLOCK_REALTIME") }

        let result = waitForTheEnd(streams)
        clockServer?.stop()
        forwarder?.stop()
        listeners.stop()
        service.stop()
        if let last = streams?.sink.lastStatus { logger.info("the enclave's last status: \(last)") }
        if let code = result {
            logger.notice("the enclave reported exit code \(code): exiting with it (--exit-with-enclave)")
            throw CommandExit(code)
        }
    }

    /// SIGTERM or SIGINT (nil), or the enclave's exit code with --exit-with-enclave.
    private func waitForTheEnd(_ streams: StreamOptions?) -> Int32? {
        let clock = ContinuousClock()
        var announced: ContinuousClock.Instant?
        while true {
            // SIGTERM and SIGINT stay blocked from the early constructor on: taken here, not fatal.
            if let signal = Signals.wait(for: [SIGTERM, SIGINT], timeout: streams?.exitWithEnclave == true ? .milliseconds(50) : nil) {
                logger.notice("received \(signal.name): closing listeners, draining open connections")
                return nil
            }
            guard let streams, streams.exitWithEnclave else { continue }
            if let code = streams.sink.enclaveResult { return code }
            if let code = streams.sink.announcedExitCode {
                let since = announced ?? clock.now
                announced = since
                if clock.now - since >= Self.logsGrace {
                    logger.warning("the enclave said shutdown but its log stream stayed open for \(Self.logsGrace); exiting without waiting longer")
                    return code
                }
            }
        }
    }
}
