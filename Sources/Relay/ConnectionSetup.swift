import Addressing
import Logging
import NIOCore
import Services
import NIOPosix

/// How a listener gets from an accepted connection to the upstream it relays to. The listener
/// accepts, limits and counts; a strategy sets the connection up (dial a mapping, speak the
/// egress proxy's HTTP, and later: a transparently captured connection) and hands the pair to
/// the one byte path with `context.relay`, or closes the accepted connection. New ways of
/// setting connections up are new strategies; the listener does not change.
protocol ConnectionSetup: Sendable {
    /// Runs on the accepted channel's event loop; reading is off until the strategy turns it on.
    func setUp(_ accepted: Channel, context: SetupContext)
}

/// What a strategy may use of its listener.
struct SetupContext: Sendable {
    let route: RelayRoute
    let emulation: VsockEmulation?
    /// Blocking lookups (getaddrinfo, nitro-cli) run here, never on an event loop.
    let lookups: BlockingPool.Lane
    let counters: ListenerCounters
    let logger: Logger
    /// Hands an established pair to the splice engine.
    let relay: @Sendable (_ accepted: Channel, _ upstream: Channel) -> Void
    /// Counts an upstream that could not be reached and logs it (at most once a second).
    let upstreamFailed: @Sendable (Error) -> Void
}

extension RelayTarget {
    /// The strategy that serves this target.
    var setup: any ConnectionSetup {
        switch self {
        case .endpoint(let endpoint): return DialTarget(dial: .endpoint(endpoint))
        case .lookup(let lookup): return DialTarget(dial: .lookup(lookup))
        case .egress(.transparent(let policy, let parent, let names)): return TransparentEgress(policy: policy, parent: parent, names: names)
        case .egress(let role): return EgressProxy(role: role)
        }
    }
}

/// A mapping: dial the route's endpoint (or each looked-up candidate in turn) and relay.
struct DialTarget: ConnectionSetup {
    enum Dial: Sendable {
        case endpoint(Endpoint)
        case lookup(TargetLookup)
    }

    let dial: Dial

    func setUp(_ accepted: Channel, context: SetupContext) {
        let connecting: EventLoopFuture<Channel>
        let route = context.route
        switch dial {
        case .endpoint(let endpoint):
            connecting = Connector.connect(to: endpoint, on: accepted.eventLoop, timeout: route.connectTimeout, emulation: context.emulation)
        case .lookup(let lookup):
            connecting = Connector.connect(to: lookup, on: accepted.eventLoop, timeout: route.connectTimeout,
                                           emulation: context.emulation, lookups: context.lookups,
                                           skipped: { [logger = context.logger] endpoint, error in
                                               logger.debug("\(route.name): \(endpoint) failed (\(DialErrorText.describe(error))); tried the next address")
                                           })
        }
        connecting.whenComplete { result in
            switch result {
            case .success(let upstream):
                context.relay(accepted, upstream)
            case .failure(let error):
                context.upstreamFailed(error)
                accepted.close(promise: nil)
            }
        }
    }
}
