import Glibc

/// IPv6 literals, read and written by the C library (inet_pton, inet_ntop) so that every module
/// agrees on what one is: the config, the egress policy, the vsock-proxy allowlist.
public enum IPv6Address {
    public static func isValid(_ text: String) -> Bool { parse(text) != nil }

    /// The 16 bytes of the address, or nil when `text` is not an IPv6 literal (no brackets, no
    /// zone identifier).
    public static func parse(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.utf8.count <= 45, !text.utf8.contains(0) else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, text, &bytes) == 1 else { return nil }
        return bytes
    }

    /// The canonical text of 16 bytes (RFC 5952: lower case, the longest zero run as "::").
    public static func text(_ bytes: [UInt8]) -> String {
        precondition(bytes.count == 16, "an IPv6 address has 16 bytes")
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard let written = inet_ntop(AF_INET6, bytes, &buffer, socklen_t(buffer.count)) else { return "?" }
        return String(cString: written)
    }

    /// The IPv4 address inside an IPv4-mapped one (::ffff:a.b.c.d), if it is one.
    public static func mappedIPv4(_ bytes: [UInt8]) -> IPv4Address? {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF else { return nil }
        return IPv4Address(bytes[12...].reduce(0) { $0 << 8 | UInt32($1) })
    }
}
