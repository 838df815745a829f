import Addressing

/// How one of enclave-init's own calls (KMS) leaves the enclave: the way the app's traffic to
/// the same endpoint would. A hosts[] mapping of its name and port (enclave-init connects to
/// the alias; the parent half dials), else the egress proxy (a CONNECT, under the policy);
/// else nothing carries it. Decided here, next to the rules, from the mappings and the policy
/// alone: the config validator (both halves' `check`, `plan`, `parent serve`) and the client
/// ask the same question.
public enum OutboundRoute: Sendable, Equatable, CustomStringConvertible {
    case alias(address: IPv4Address, port: UInt16)
    case connectProxy(port: UInt16)

    public var description: String {
        switch self {
        case .alias(let address, let port): return "hosts[] alias \(address):\(port)"
        case .connectProxy(let port): return "the egress proxy 127.0.0.1:\(port)"
        }
    }

    /// A hosts[] entry as the route sees it: the names it maps on one address and port.
    public struct Mapping: Sendable {
        public var names: [String]
        public var address: IPv4Address
        public var port: UInt16

        public init(names: [String], address: IPv4Address, port: UInt16) {
            self.names = names
            self.address = address
            self.port = port
        }
    }

    /// Why nothing carries the endpoint, and what would.
    public struct Unreachable: Error, Equatable, CustomStringConvertible {
        public var description: String
        public var hint: String
    }

    public static func to(_ endpoint: HostPort, mappings: [Mapping], egress: (policy: EgressPolicy, proxyPort: UInt16)?) -> Result<OutboundRoute, Unreachable> {
        let name = HostGrammar.canonical(endpoint.host)
        if let mapping = mappings.first(where: { $0.names.contains(name) && $0.port == endpoint.port }) {
            return .success(.alias(address: mapping.address, port: mapping.port))
        }
        if let egress {
            let destination = Destination(host: IPv4Address(name).map(Destination.Host.ipv4) ?? .name(name.split(separator: ".").map(String.init)),
                                          port: endpoint.port)
            switch egress.policy.decide(destination) {
            case .allow: return .success(.connectProxy(port: egress.proxyPort))
            case .deny(let reason):
                return .failure(Unreachable(description: "the egress policy does not let enclave-init reach \(endpoint): \(reason)",
                                            hint: "add \"\(name)\" to egress.allow, or map it in hosts[]"))
            }
        }
        return .failure(Unreachable(description: "nothing carries \(endpoint) out of the enclave",
                                    hint: "add a hosts[] entry with \"names\": [\"\(name)\"] and \"port\": \(endpoint.port), or an egress proxy that allows it"))
    }
}
