import Addressing
import BootConfig
import Policy

/// How enclave-init reaches KMS from inside the enclave: the way the app would. A hosts[]
/// mapping of the endpoint's name and port (enclave-init connects to its alias), else the egress
/// proxy (a CONNECT to the endpoint, under the policy). TLS always verifies the endpoint's name.
public enum KMSRoute: Sendable, Equatable, CustomStringConvertible {
    case alias(address: IPv4Address, port: UInt16)
    case connectProxy(port: UInt16)

    public var description: String {
        switch self {
        case .alias(let address, let port): return "hosts[] alias \(address):\(port)"
        case .connectProxy(let port): return "the egress proxy 127.0.0.1:\(port)"
        }
    }

    public struct Unreachable: Error, Equatable, CustomStringConvertible {
        public var description: String
        public var hint: String
    }

    public static func resolve(_ config: BootConfiguration) -> Result<KMSRoute, Unreachable>? {
        guard let kms = config.kms else { return nil }
        let endpoint = kms.endpoint
        let name = HostGrammar.canonical(endpoint.host)
        if let host = config.hosts.first(where: { $0.names.contains(name) && $0.port == endpoint.port }) {
            return .success(.alias(address: host.address, port: host.port))
        }
        if let egress = config.egress {
            let labels = name.split(separator: ".").map(String.init)
            let destination = Destination(host: IPv4Address(name).map(Destination.Host.ipv4) ?? .name(labels), port: endpoint.port)
            switch EgressPolicy(egress).decide(destination) {
            case .allow: return .success(.connectProxy(port: egress.port))
            case .deny(let reason):
                return .failure(Unreachable(description: "the egress policy does not let enclave-init reach \(endpoint): \(reason)",
                                            hint: "add \"\(name)\" to egress.allow, or map it in hosts[]"))
            }
        }
        return .failure(Unreachable(description: "nothing carries \(endpoint) out of the enclave",
                                    hint: "add a hosts[] entry with \"names\": [\"\(name)\"] and \"port\": \(endpoint.port), or an egress proxy that allows it"))
    }
}
