import BootConfig

/// Where a relay's connections go: a fixed endpoint, or candidates looked up for each new
/// connection (a DNS name on the parent, an enclave found by name) and tried in turn.
public enum RelayTarget: Sendable, CustomStringConvertible {
    case endpoint(Endpoint)
    case lookup(TargetLookup)

    public var description: String {
        switch self {
        case .endpoint(let endpoint): return endpoint.description
        case .lookup(let lookup): return lookup.description
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
