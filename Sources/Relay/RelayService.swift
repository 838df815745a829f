import Addressing
import BootConfig
import Logging
import NIOCore
import NIOPosix
import Policy
import Services

/// Every outbound and ingress listener of the config (boot step 6, or `parent serve`), on the
/// process's event loops, all listening before the app starts.
public final class RelayService: Service {
    public private(set) var listeners: [RelayListener] = []
    private let routes: [RelayRoute]
    private let emulation: VsockEmulation?
    private let spliceThreads: Int
    /// Moves the bytes of every established connection: the one byte path.
    private var engine: SpliceEngine?
    private let logger: Logger

    /// The enclave side's routes, from the listener table (where each listens and dials):
    /// outbound hosts[] (TCP alias -> parent vsock), ingress (vsock -> the app on 127.0.0.1) and
    /// egress. `names`: the DNS stub's answers, which name transparently captured connections.
    public static func enclaveRoutes(for config: BootConfiguration, names: EgressRole.NameLookup? = nil) -> [RelayRoute] {
        ListenerTable(config: config).relays(on: .enclave).compactMap { entry, relay in
            guard case .endpoint(let target)? = entry.dial else { return nil } // every enclave relay dials a fixed endpoint
            switch relay {
            case .outbound(_, let host):
                return RelayRoute(name: host.names.first ?? "\(host.address):\(host.port)", listen: entry.address, target: .endpoint(target),
                                  connectTimeout: .milliseconds(Int64(host.connectTimeoutMilliseconds)), maxConnections: host.maxConnections)
            case .ingress(_, let ingress):
                return RelayRoute(name: "ingress \(ingress.vsockPort)", listen: entry.address, target: .endpoint(target), connectTimeout: .seconds(5))
            case .egress(let egress):
                let policy = EgressPolicy(egress)
                let role: EgressRole = egress.transparent ? .transparent(policy: policy, parent: target, names: names ?? { _ in [] })
                                                          : .enclave(policy: policy, parent: target)
                return RelayRoute(name: "egress", listen: entry.address, target: .egress(role), connectTimeout: .seconds(5))
            }
        }
    }

    /// How the parent half reaches the enclave for ingress: a known CID, or one found when a
    /// connection arrives (e.g. from `nitro-cli describe-enclaves`, which changes on restart).
    public enum EnclaveCID: Sendable {
        case fixed(UInt32)
        case lookup(description: String, find: @Sendable () throws -> UInt32)
    }

    public struct ParentOptions: Sendable {
        public var enclave: EnclaveCID?
        /// Where ingress listens on the parent (default all IPv4 addresses).
        public var ingressBindAddress: String = "0.0.0.0"
        public var family: AddressFamily = .any

        public init(enclave: EnclaveCID?, ingressBindAddress: String = "0.0.0.0", family: AddressFamily = .any) {
            self.enclave = enclave
            self.ingressBindAddress = ingressBindAddress
            self.family = family
        }
    }

    /// The parent side's routes, mirror images of `enclaveRoutes`: vsock `vsock_port` -> the
    /// host's `remote` (resolved per connection), TCP `host_port` -> the enclave's vsock port,
    /// and the egress proxy's vsock port -> whatever each connection names, under the policy.
    public static func parentRoutes(for config: BootConfiguration, options: ParentOptions) throws(RelayError) -> [RelayRoute] {
        var routes: [RelayRoute] = []
        for (entry, relay) in ListenerTable(config: config).relays(on: .parent) {
            switch (relay, entry.dial) {
            case (.outbound(let index, let host), .remote(let remote)?):
                guard let remote else { throw .noRemote(hostIndex: index) }
                routes.append(RelayRoute(name: host.names.first ?? remote.description, listen: entry.address,
                                         target: .lookup(.hostName(remote, family: options.family)),
                                         connectTimeout: .milliseconds(Int64(host.connectTimeoutMilliseconds)),
                                         maxConnections: host.maxConnections))
            case (.egress(let egress), _):
                routes.append(RelayRoute(name: "egress", listen: entry.address,
                                         target: .egress(.parent(policy: EgressPolicy(egress), family: options.family)),
                                         connectTimeout: .seconds(10)))
            case (.ingress(_, let ingress), .enclave(let port)?):
                guard let enclave = options.enclave else { throw .ingressNeedsEnclave }
                let target: RelayTarget
                switch enclave {
                case .fixed(let cid):
                    target = .endpoint(.vsock(cid: cid, port: port))
                case .lookup(let description, let find):
                    target = .lookup(TargetLookup(description: "vsock:<\(description)>:\(port)") { [.vsock(cid: try find(), port: port)] })
                }
                // --ingress-bind replaces the table's 0.0.0.0.
                routes.append(RelayRoute(name: "ingress \(ingress.hostPort)",
                                         listen: .tcp(host: options.ingressBindAddress, port: ingress.hostPort),
                                         target: target, connectTimeout: .seconds(5)))
            case (.outbound, _), (.ingress, _):
                continue // the table gives every parent outbound a remote and every ingress the enclave's port
            }
        }
        return routes
    }

    /// Splice threads for a process with `eventLoops` (one per core by default): half as many.
    /// A splice thread spends a fraction of what the endpoints of its connections do (in
    /// `scripts/bench relay` at 16 Gb/s both halves together took 28% of the two cores under
    /// perf, iperf3 70%), so on two cores a second one only added context switches: 8 streams
    /// went from 2.7-3.0x socat to 3.1-3.2x with one.
    public static func spliceThreads(forEventLoops eventLoops: Int) -> Int { max(1, eventLoops / 2) }

    /// `spliceThreads` relay the bytes of established connections; the process's event loops
    /// set them up.
    public init(routes: [RelayRoute], emulation: VsockEmulation?, logger: Logger,
                spliceThreads: Int = RelayService.spliceThreads(forEventLoops: System.coreCount)) {
        self.routes = routes
        self.emulation = emulation
        self.logger = logger
        self.spliceThreads = spliceThreads
    }

    public var listening: [Listening] {
        routes.map { Listening("\($0)", address: $0.listen, emulation: emulation) }
    }

    /// Binds every route; fails (closing what was bound) if any cannot listen, or if the splice
    /// engine cannot start (the boot then fails at its proxies step).
    public func start() throws(RelayError) {
        let engine = try SpliceEngine(threads: spliceThreads)
        self.engine = engine
        // Lookups (getaddrinfo, nitro-cli) block: eight at once, on the shared blocking pool.
        let lookups = BlockingPool.Lane(width: 8)
        listeners = routes.map { RelayListener(route: $0, emulation: emulation, lookups: lookups, engine: engine, logger: logger) }
        for listener in listeners {
            do {
                try listener.start(group: EventLoops.shared).wait()
            } catch {
                stop(drain: .zero)
                throw .cannotListen(route: listener.route.name, address: listener.route.listen.emulated(by: emulation), underlying: error)
            }
        }
    }

    /// Connections handed to the splice engine so far, over all listeners.
    public var connectionsSpliced: Int { engine?.connectionsTaken ?? 0 }

    /// Closes the listeners, gives open connections `drain` to finish, and logs each
    /// listener's counters.
    public func stop() { stop(drain: .seconds(2)) }

    public func stop(drain: TimeAmount) {
        for listener in listeners { listener.stopAccepting() }
        let deadline = NIODeadline.now() + drain
        while listeners.contains(where: { $0.counters.snapshot.active > 0 }) && NIODeadline.now() < deadline {
            usleep(10_000)
        }
        for listener in listeners { listener.closeRemaining() }
        engine?.stop() // closes the spliced connections still open
        for listener in listeners { logger.info("proxy \(listener.route): \(listener.counters.snapshot)") }
    }
}
