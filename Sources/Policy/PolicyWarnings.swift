
/// Where a policy is wider than it reads: said by `check` and `plan`, never an error (each is
/// a choice someone may mean).
extension EgressPolicy {
    /// One line each, "egress.allow: ..." with the rule as written.
    public func warnings(dnsStub: Bool, udp: Bool) -> [String] {
        var lines: [String] = []
        // decide(resolving:) lets a name through when any allow rule names addresses: the name
        // may resolve to one of them, and only the answer can tell.
        if dnsStub, let rule = allow.first(where: { if case .domain = $0.host { false } else { true } }) {
            lines.append("egress.allow \"\(rule.text)\" names addresses, so the DNS stub forwards every name no deny rule covers "
                         + "(any name may resolve into it): the parent's resolvers see those names; deny the ones you do not want, "
                         + "or name hosts instead of addresses")
        }
        if udp, let rule = allow.first(where: { $0.ports != nil && $0.transport == nil }) {
            lines.append("egress.allow \"\(rule.text)\" opens its ports to TCP and UDP alike (egress.udp is on): \":443\" also lets QUIC out; "
                         + "write \"tcp:\(rule.text)\" for TCP only")
        }
        return lines
    }
}
