/// What a destination names: a host name (lower-case labels, no trailing dot) or an address.
/// The egress policy judges these, the DNS stub gives names to addresses, the proxies dial them.
public enum Host: Sendable, Hashable, CustomStringConvertible {
    case name([String])
    case address(IPAddress)

    public static func ipv4(_ address: IPv4Address) -> Host { .address(.v4(address)) }

    /// A name or a literal as written, without brackets; nil when it is neither.
    public init?(_ text: String) {
        if let address = IPAddress(text) {
            self = .address(address)
        } else if case let name = HostGrammar.canonical(text), Hostname.isValid(name) {
            self = .name(name.split(separator: ".", omittingEmptySubsequences: false).map(String.init))
        } else {
            return nil
        }
    }

    /// The host alone, as it is sent on: "a.example.com", "10.0.0.1", "2001:db8::1".
    public var description: String {
        switch self {
        case .name(let labels): return labels.joined(separator: ".")
        case .address(let address): return address.description
        }
    }

    /// "host:port", IPv6 in brackets.
    public func authority(port: UInt16) -> String {
        if case .address(.v6) = self { return "[\(description)]:\(port)" }
        return "\(description):\(port)"
    }
}
