/// An IP address of either family: what a name resolves to, what a connection or a flow is
/// addressed to. IPv6 keeps its 16 bytes (the C library reads and writes them: IPv6Address).
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6([UInt8])

    /// A literal of either family; an IPv4-mapped IPv6 literal (::ffff:a.b.c.d) is its IPv4
    /// address, so that one address has one value whichever way it was spelled.
    public init?(_ text: String) {
        if let address = IPv4Address(text) {
            self = .v4(address)
        } else if let bytes = IPv6Address.parse(text) {
            self.init(bytes: bytes)
        } else {
            return nil
        }
    }

    /// 16 bytes, normalised as `init?(_:)` does.
    public init(bytes: [UInt8]) {
        self = IPv6Address.mappedIPv4(bytes).map(IPAddress.v4) ?? .v6(bytes)
    }

    public var family: AddressFamily {
        switch self {
        case .v4: return .ipv4
        case .v6: return .ipv6
        }
    }

    /// The address alone: "10.0.0.1", "2001:db8::1" (no brackets).
    public var description: String {
        switch self {
        case .v4(let address): return address.description
        case .v6(let bytes): return IPv6Address.text(bytes)
        }
    }
}
