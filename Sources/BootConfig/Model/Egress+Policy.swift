import Addressing
import Policy

/// The boot JSON's `egress` read as the policy it states. The rule syntax and every decision
/// live in Policy; the config only holds the rules as written.
extension EgressPolicy {
    public init(_ egress: Egress) {
        self.init(allow: egress.allow, deny: egress.deny)
    }
}

extension BootConfiguration {
    /// How enclave-init's own call to `endpoint` leaves the enclave (Policy.OutboundRoute).
    public func outboundRoute(to endpoint: HostPort) -> Result<OutboundRoute, OutboundRoute.Unreachable> {
        OutboundRoute.to(endpoint, mappings: hosts.map { .init(names: $0.names, address: $0.address, port: $0.port) },
                         egress: egress.map { (EgressPolicy($0), $0.port) })
    }
}
