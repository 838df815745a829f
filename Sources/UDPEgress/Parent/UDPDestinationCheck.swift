import Addressing
import Policy

/// The parent half's own check of a flow the enclave opens, with the same rules its CONNECT
/// server applies: by the name the enclave allowed it by (that name's rule, then the address
/// under it: a deny rule for the address, or an address the parent or its cloud serve —
/// loopback, link-local with the instance metadata service, unspecified, multicast — refuses
/// it unless an allow rule names that address), or, with no name, by the address alone.
/// The parent does not resolve the name again: the answer the enclave's stub gave came from
/// this half's resolvers, and a name that no longer resolves there still names the same rule.
public enum UDPDestinationCheck {
    public static func decide(_ policy: EgressPolicy, destination: UDPEndpoint, name: String) -> EgressPolicy.Decision {
        let literal = Destination(host: .ipv4(destination.address), port: destination.port)
        var asked = literal
        if !name.isEmpty {
            guard case .success(let host) = Destination.parse(host: name), case .name = host else {
                return .deny(reason: "\"\(name)\" is not a host name")
            }
            asked = Destination(host: host, port: destination.port)
        }
        let decision = policy.decide(asked, over: .udp)
        guard decision.isAllowed else { return decision }
        let underneath = policy.decide(resolved: literal, for: asked, over: .udp)
        return underneath.isAllowed ? decision : underneath
    }
}
