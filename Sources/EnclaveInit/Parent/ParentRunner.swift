import ArgumentParser
import BootConfig
import Glibc
import Logging
import Relay
import Supervisor

/// What both parent commands share: logging, the allowlist check, and serving routes until
/// SIGTERM or SIGINT.
struct ParentRunner {
    let logger: Logger

    init(logLevel: Logger.Level) {
        LoggingSystem.bootstrap { ConsoleLogHandler(label: $0, level: logLevel) }
        logger = Logger(label: "parent")
    }

    /// Refuses to start when a remote is not in the allowlist (every refusal is listed).
    func check(remotes: [(origin: String, remote: HostPort)], againstAllowlistAt path: String) throws {
        let allowlist: VsockProxyAllowlist
        do {
            allowlist = try VsockProxyAllowlist.load(path: path)
        } catch {
            logger.error("\(error)")
            throw ExitCode(InitExitCode.invalidConfig)
        }
        let refused = remotes.filter { !allowlist.permits($0.remote) }
        guard !refused.isEmpty else { return }
        for (origin, remote) in refused {
            logger.error("\(origin): \(remote) is not in the allowlist \(path); add \"- {address: \(remote.host), port: \(remote.port)}\" to allow it")
        }
        throw ExitCode(InitExitCode.invalidConfig)
    }

    /// Listens on every route (one line each), then relays until SIGTERM or SIGINT.
    func serve(_ routes: [RelayRoute], source: String) throws {
        guard !routes.isEmpty else {
            logger.error("\(source): nothing to serve (no hosts[] and no ingress[])")
            throw ExitCode(InitExitCode.bootStepFailed)
        }
        let environment = ["ENCLAVE_INIT_VSOCK_DIR", "ENCLAVE_INIT_VSOCK_CID"].reduce(into: [String: String]()) { result, name in
            result[name] = ProcessEnvironment.value(name)
        }
        let emulation = VsockEmulation(environment: environment, defaultCID: VsockEmulation.defaultParentCID)
        let service: RelayService
        do {
            service = try RelayService(routes: routes, emulation: emulation, logger: Logger(label: "relay"))
        } catch {
            logger.error("\(error)")
            throw ExitCode(InitExitCode.bootStepFailed)
        }
        for listener in service.listeners {
            let emulated = listener.route.listen.emulated(by: emulation)
            let via = emulated == listener.route.listen ? "" : " (emulated: \(emulated))"
            logger.info("listening: \(listener.route)\(via)")
        }
        // SIGTERM and SIGINT stay blocked from the early constructor on: taken here, not fatal.
        let signal = Signals.wait(for: [SIGTERM, SIGINT], timeout: nil)
        logger.notice("received \(signal?.name ?? "a signal"): closing listeners, draining open connections")
        service.stop()
    }
}
