import BootConfig
import Logging
import NIOCore
import NIOPosix

/// Step 6 of the boot: every outbound and ingress listener of the config, on one event loop
/// group, all listening before the app starts.
public final class RelayService {
    public let listeners: [RelayListener]
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The enclave side's routes: outbound hosts[] (TCP alias -> parent vsock) and ingress
    /// (vsock -> the app on 127.0.0.1).
    public static func enclaveRoutes(for config: BootConfiguration) -> [RelayRoute] {
        let outbound = config.hosts.map { host in
            RelayRoute(name: host.names.first ?? "\(host.address):\(host.port)", listen: .tcp(host: host.address.description, port: host.port),
                       target: .vsock(cid: config.parentCID, port: host.vsockPort),
                       connectTimeout: .milliseconds(Int64(host.connectTimeoutMilliseconds)), maxConnections: host.maxConnections)
        }
        let ingress = config.ingress.map { ingress in
            RelayRoute(name: "ingress \(ingress.vsockPort)", listen: .vsock(port: ingress.vsockPort),
                       target: .tcp(host: "127.0.0.1", port: ingress.port), connectTimeout: .seconds(5))
        }
        return outbound + ingress
    }

    /// Binds every route; fails (closing what was bound) if any cannot listen.
    public init(routes: [RelayRoute], emulation: VsockEmulation?, logger: Logger,
                threads: Int = System.coreCount) throws(Failure) {
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        listeners = routes.map { RelayListener(route: $0, emulation: emulation, logger: logger) }
        for listener in listeners {
            do {
                try listener.start(group: group).wait()
            } catch {
                stop(drain: .zero)
                throw Failure(description: "cannot listen on \(listener.route.listen.emulated(by: emulation)) for \(listener.route.name): \(error)")
            }
        }
    }

    /// Closes the listeners, gives open connections `drain` to finish, and logs each
    /// listener's counters.
    public func stop(drain: TimeAmount = .seconds(2)) {
        for listener in listeners {
            listener.stop(drain: drain)
            logger.info("proxy \(listener.route): \(listener.counters.snapshot)")
        }
        try? group.syncShutdownGracefully()
    }
}
