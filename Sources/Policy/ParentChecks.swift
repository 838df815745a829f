import Addressing

/// The parent half's own checks, which it makes whatever the enclave already decided: the
/// addresses a name resolved to before one is dialled, and each UDP flow the enclave opens.
extension EgressPolicy {
    /// The addresses `destination` resolved to that may be dialled, in their order (every one
    /// checked with `decide(resolved:for:)`); a refusal, naming the first reason, when none
    /// may. A literal destination is its own single address.
    public func dialable(_ addresses: [Destination], for destination: Destination,
                         over transport: Transport = .tcp) -> Result<[Destination], Refusal> {
        var refusals: [String] = []
        let allowed = addresses.filter { address in
            guard case .deny(let reason) = decide(resolved: address, for: destination, over: transport) else { return true }
            refusals.append(reason)
            return false
        }
        guard !allowed.isEmpty else { return .failure(Refusal(reason: refusals.first ?? "\(destination) resolves to no address")) }
        return .success(allowed)
    }

    /// A refusal with its reason, for callers that throw it.
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// A UDP flow the enclave opens to `address`:`port`, asked by the name its stub allowed it
    /// by (empty: none), with the rules the CONNECT server applies: that name's rule, then the
    /// address under it (a deny rule for the address, or an address the parent or its cloud
    /// serve refuses it unless an allow rule names that address); with no name, the address
    /// alone. The parent does not resolve the name again: the answer the enclave's stub gave
    /// came from this half's resolvers, and a name that no longer resolves there still names
    /// the same rule.
    public func decide(udpFlowTo address: IPv4Address, port: UInt16, name: String) -> Decision {
        let literal = Destination(host: .ipv4(address), port: port)
        var asked = literal
        if !name.isEmpty {
            guard case .success(let host) = Destination.parse(host: name), case .name = host else {
                return .deny(reason: "\"\(name)\" is not a host name")
            }
            asked = Destination(host: host, port: port)
        }
        let decision = decide(asked, over: .udp)
        guard decision.isAllowed else { return decision }
        let underneath = decide(resolved: literal, for: asked, over: .udp)
        return underneath.isAllowed ? decision : underneath
    }
}
