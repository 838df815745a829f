import Glibc

/// Which addresses a name may resolve to (vsock-proxy's -4 and -6).
public enum AddressFamily: Sendable, Hashable, CustomStringConvertible {
    case any, ipv4, ipv6

    public var description: String {
        switch self {
        case .any: return "any"
        case .ipv4: return "IPv4"
        case .ipv6: return "IPv6"
        }
    }

    /// AF_UNSPEC, AF_INET or AF_INET6.
    public var socketFamily: Int32 {
        switch self {
        case .any: return AF_UNSPEC
        case .ipv4: return AF_INET
        case .ipv6: return AF_INET6
        }
    }
}
