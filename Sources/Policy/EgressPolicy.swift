
/// `egress.allow` and `egress.deny`: deny wins, no match is a denial. Checked by the enclave
/// half before anything leaves, and again by the parent half, which also checks every address
/// a name resolves to. A connection is judged as TCP (the proxy, captured connections) or UDP
/// (egress.udp's flows): a rule written "tcp:…" or "udp:…" covers only that transport.
public struct EgressPolicy: Sendable {
    public typealias Transport = EgressRule.Transport

    public enum Decision: Sendable, Equatable {
        case allow(rule: String)
        case deny(reason: String)

        public var isAllowed: Bool { if case .allow = self { return true } else { return false } }
    }

    public var allow: [EgressRule]
    public var deny: [EgressRule]

    public init(allow: [EgressRule], deny: [EgressRule]) {
        self.allow = allow
        self.deny = deny
    }

    public func decide(_ destination: Destination, over transport: Transport = .tcp) -> Decision {
        if let rule = denyingRule(destination, over: transport) {
            return .deny(reason: "\(Self.spelled(destination, transport)) is denied by \"\(rule.text)\"")
        }
        if let rule = allow.first(where: { Self.matches($0, destination, transport) }) {
            return .allow(rule: rule.text)
        }
        return .deny(reason: "no allow rule matches \(Self.spelled(destination, transport))")
    }

    /// The first deny rule that covers `destination`, if any: what "deny wins" checks before
    /// any allow rule is looked at.
    public func denyingRule(_ destination: Destination, over transport: Transport = .tcp) -> EgressRule? {
        deny.first { Self.matches($0, destination, transport) }
    }

    /// A destination as reasons name it: UDP ones say so, TCP is the default everyone assumes.
    static func spelled(_ destination: Destination, _ transport: Transport) -> String {
        transport == .udp ? "udp:\(destination)" : "\(destination)"
    }

    /// Whether the DNS stub may ask the parent for `name` (lower-case labels). A name is refused
    /// inside the enclave, so that it never leaves it, when no connection to it could be
    /// allowed: a deny rule without ports or a transport covers it, or no allow rule (of either
    /// transport) could match it — unless an allow rule names addresses, which a name may
    /// resolve to.
    public func decide(resolving name: [String]) -> Decision {
        let text = name.joined(separator: ".")
        if let rule = deny.first(where: { rule in
            guard rule.ports == nil, rule.transport == nil, case .domain(let pattern) = rule.host else { return false }
            return Self.labelsMatch(pattern[...], name[...])
        }) {
            return .deny(reason: "\(text) is denied by \"\(rule.text)\"")
        }
        if let rule = allow.first(where: { rule in
            guard case .domain(let pattern) = rule.host else { return false }
            return Self.labelsMatch(pattern[...], name[...])
        }) {
            return .allow(rule: rule.text)
        }
        if let rule = allow.first(where: { if case .domain = $0.host { return false } else { return true } }) {
            return .allow(rule: rule.text)
        }
        return .deny(reason: "no allow rule matches \(text)")
    }

    /// For an address `name` resolved to: a deny rule covering it refuses it, and so does an
    /// address the parent itself or its cloud serve — loopback, link-local (the instance
    /// metadata service 169.254.169.254), unspecified, multicast — unless an allow rule names
    /// that address explicitly.
    public func decide(resolved address: Destination, for name: Destination, over transport: Transport = .tcp) -> Decision {
        if let rule = deny.first(where: { Self.matches($0, address, transport) }) {
            return .deny(reason: "\(name) resolves to \(address.hostText), which \"\(rule.text)\" denies")
        }
        if let kind = Self.specialKind(address.host), !allow.contains(where: { Self.matches($0, address, transport) }) {
            return .deny(reason: "\(name) resolves to \(address.hostText), a \(kind) address; allow it with an IP rule if that is meant")
        }
        return .allow(rule: "resolved")
    }

    static func matches(_ rule: EgressRule, _ destination: Destination, _ transport: Transport) -> Bool {
        guard rule.covers(transport) else { return false }
        if let ports = rule.ports, !ports.contains(destination.port) { return false }
        switch (rule.host, destination.host) {
        case (.domain(let pattern), .name(let labels)):
            return labelsMatch(pattern[...], labels[...])
        case (.ipv4(let network), .address(.v4(let address))):
            return network.contains(address)
        case (.ipv6(let prefix, let length), .address(.v6(let bytes))):
            return prefixMatches(prefix, bytes, length)
        default:
            return false
        }
    }

    /// `*` is exactly one label, `**` one or more; everything else compares equal (both sides
    /// are lower-case without a trailing dot).
    static func labelsMatch(_ pattern: ArraySlice<String>, _ labels: ArraySlice<String>) -> Bool {
        guard let first = pattern.first else { return labels.isEmpty }
        switch first {
        case "**":
            guard !labels.isEmpty else { return false }
            for taken in 1...labels.count where labelsMatch(pattern.dropFirst(), labels.dropFirst(taken)) { return true }
            return false
        case "*":
            return !labels.isEmpty && labelsMatch(pattern.dropFirst(), labels.dropFirst())
        default:
            return labels.first == first && labelsMatch(pattern.dropFirst(), labels.dropFirst())
        }
    }

    static func prefixMatches(_ prefix: [UInt8], _ bytes: [UInt8], _ length: Int) -> Bool {
        var bits = length
        for index in 0..<16 where bits > 0 {
            let mask: UInt8 = bits >= 8 ? 0xFF : UInt8(0xFF) << UInt8(8 - bits)
            if prefix[index] & mask != bytes[index] & mask { return false }
            bits -= 8
        }
        return true
    }

    static func specialKind(_ host: Destination.Host) -> String? {
        switch host {
        case .address(.v4(let address)):
            let value = address.value
            if value >> 24 == 127 { return "loopback" }
            if value >> 16 == 0xA9FE { return "link-local" }
            if value >> 24 == 0 { return "unspecified" }
            if value >> 28 == 0xE { return "multicast" }
            return nil
        case .address(.v6(let bytes)):
            if bytes == [UInt8](repeating: 0, count: 15) + [1] { return "loopback" }
            if bytes.allSatisfy({ $0 == 0 }) { return "unspecified" }
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return "link-local" }
            if bytes[0] == 0xFF { return "multicast" }
            if bytes[0] == 0xFD && bytes[1] == 0x00 && bytes[2] == 0x0E && bytes[3] == 0xC2 { return "metadata (fd00:ec2::/32)" }
            return nil
        case .name:
            return nil
        }
    }
}
