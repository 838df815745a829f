import Addressing
import BootConfig
import Policy

/// Where a relay's connections go: a fixed endpoint, or candidates looked up for each new
/// connection (a DNS name on the parent, an enclave found by name) and tried in turn.
public enum RelayTarget: Sendable, CustomStringConvertible {
    case endpoint(Endpoint)
    case lookup(TargetLookup)
    /// An HTTP proxy: each connection names its own destination, checked against a policy.
    case egress(EgressRole)

    public var description: String {
        switch self {
        case .endpoint(let endpoint): return endpoint.description
        case .lookup(let lookup): return lookup.description
        case .egress(let role): return role.description
        }
    }
}

/// The two halves of the egress proxy (docs/design.md, 3. Wire formats: egress).
public enum EgressRole: Sendable, CustomStringConvertible {
    /// In the enclave: an HTTP proxy for the app (CONNECT and absolute-URI requests); an allowed
    /// destination is asked of the parent half with CONNECT over vsock.
    case enclave(policy: EgressPolicy, parent: Endpoint)
    /// In the enclave with `egress.transparent`: the same proxy, and the listener the capture
    /// rule redirects the app's direct connections to. A redirected connection is named from
    /// the DNS stub's recent answers (`names`: every name an address was given), judged by the
    /// policy and asked of the parent.
    case transparent(policy: EgressPolicy, parent: Endpoint, names: NameLookup)
    /// On the parent: a CONNECT server that checks again, resolves, checks every address, dials.
    case parent(policy: EgressPolicy, family: AddressFamily)

    /// Every name the app's resolver recently got `address` for, the most recent first.
    public typealias NameLookup = @Sendable (IPv4Address) -> [String]

    public var description: String {
        switch self {
        case .enclave(_, let parent): return "egress proxy via \(parent)"
        case .transparent(_, let parent, _): return "egress proxy and transparent capture via \(parent)"
        case .parent: return "egress CONNECT server"
        }
    }
}

/// A target found at connection time. `candidates` blocks (getaddrinfo, running nitro-cli), so
/// the relay calls it on its thread pool, never on an event loop.
public struct TargetLookup: Sendable, CustomStringConvertible {
    public var description: String
    public var candidates: @Sendable () throws -> [Endpoint]

    public init(description: String, candidates: @escaping @Sendable () throws -> [Endpoint]) {
        self.description = description
        self.candidates = candidates
    }

    /// A `host:port` resolved with the system resolver for each connection, every address of
    /// the answer tried in order (AWS's vsock-proxy takes only the first and exits on errors).
    public static func hostName(_ remote: HostPort, family: AddressFamily) -> TargetLookup {
        let suffix = family == .any ? "" : " (\(family) only)"
        return TargetLookup(description: "tcp:\(remote)\(suffix)") {
            try SystemResolver.resolve(host: remote.host, port: remote.port, family: family)
        }
    }
}
