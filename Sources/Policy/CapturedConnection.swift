import Addressing

/// A connection the capture rule redirected: where the app meant to go, and every name the DNS
/// stub recently gave the app for that address (the most recent first). The listener that
/// reads SO_ORIGINAL_DST lives in Relay; what is allowed is decided here, next to the rules.
public struct CapturedConnection: Sendable, Equatable {
    public var address: IPv4Address
    public var port: UInt16
    public var names: [String]

    public init(address: IPv4Address, port: UInt16, names: [String]) {
        self.address = address
        self.port = port
        self.names = names
    }

    public enum Decision: Sendable, Equatable {
        /// Ask the parent's CONNECT server for this (a name the app resolved, or the literal).
        case ask(Destination)
        case refuse(reason: String)
    }

    /// Many names share an address, and the app's connection does not say which one it meant,
    /// so the rule is (README, "Transparent networking"):
    /// 1. a deny rule covering the address and port refuses it, whatever its names;
    /// 2. else the first name allowed on this port — whose address is not one the policy
    ///    refuses for a name (`decide(resolved:for:)`: the parent's own and the cloud's
    ///    addresses) — is asked of the parent by that name;
    /// 3. else an address rule allowing the address and port allows it as the literal, unless
    ///    a deny rule refused one of its names (then the app most likely meant that name);
    /// 4. else it is refused, and the reason names every name considered.
    /// A denied name therefore never makes an address usable: only an allowed name or an
    /// address rule can.
    public func decide(_ policy: EgressPolicy, over transport: EgressPolicy.Transport = .tcp) -> Decision {
        let literal = Destination(host: .ipv4(address), port: port)
        let names = self.names.compactMap { name -> Destination? in
            guard case .success(let host) = Destination.parse(host: name), case .name = host else { return nil }
            return Destination(host: host, port: port)
        }
        let label = "egress policy (captured \(literal)\(names.isEmpty ? ", no name from the DNS stub" : ", named \(names.map(\.hostText).joined(separator: ", "))"))"
        if let rule = policy.denyingRule(literal, over: transport) {
            return .refuse(reason: "\(label): \(literal) is denied by \"\(rule.text)\"")
        }
        var reasons: [String] = []
        var aNameIsDenied = false
        for named in names {
            switch (policy.decide(named, over: transport), policy.decide(resolved: literal, for: named, over: transport)) {
            case (.allow, .allow):
                return .ask(named)
            case (.deny(let reason), _):
                aNameIsDenied = aNameIsDenied || policy.denyingRule(named, over: transport) != nil
                reasons.append(reason)
            case (.allow, .deny(let reason)):
                reasons.append(reason)
            }
        }
        switch policy.decide(literal, over: transport) {
        case .allow where !aNameIsDenied:
            return .ask(literal)
        case .allow:
            reasons.append("\(literal) is allowed as an address, but a deny rule refused a name it was given")
        case .deny(let reason):
            reasons.append(reason)
        }
        return .refuse(reason: "\(label): \(reasons.joined(separator: "; "))")
    }
}
