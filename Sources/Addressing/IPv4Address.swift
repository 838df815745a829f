/// A dotted-quad IPv4 address. Only the strict form "a.b.c.d" (decimal, no leading zeros) is
/// accepted: the enclave binary has no resolver, and lenient forms such as "127.1" or "0x7f.1"
/// would make configs mean something other than what they appear to say.
public struct IPv4Address: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part == "0" || !part.hasPrefix("0"), let octet = UInt8(part) else { return nil }
            value = value << 8 | UInt32(octet)
        }
        self.value = value
    }

    public var octets: [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }
    public var description: String { octets.map(String.init).joined(separator: ".") }
    public var isLoopback: Bool { value >> 24 == 127 }

    public static func < (a: IPv4Address, b: IPv4Address) -> Bool { a.value < b.value }
    public static let loopback = IPv4Address(0x7F00_0001)
}

/// An address with a prefix length, as written in `network.loopback`: "127.0.0.1/8".
public struct IPv4Interface: Sendable, Hashable, CustomStringConvertible {
    public var address: IPv4Address
    public var prefixLength: Int

    public init(address: IPv4Address, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// "a.b.c.d/n", or a bare "a.b.c.d" meaning /32 when `defaultPrefix` allows it.
    public init?(_ text: String, defaultPrefix: Int? = nil) {
        let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count <= 2, let address = IPv4Address(String(pieces[0])) else { return nil }
        if pieces.count == 2 {
            guard pieces[1].allSatisfy({ $0.isASCII && $0.isNumber }), let prefix = Int(pieces[1]), (0...32).contains(prefix) else { return nil }
            self.init(address: address, prefixLength: prefix)
        } else {
            guard let defaultPrefix else { return nil }
            self.init(address: address, prefixLength: defaultPrefix)
        }
    }

    public var description: String { "\(address)/\(prefixLength)" }

    public func contains(_ other: IPv4Address) -> Bool {
        let mask: UInt32 = prefixLength == 0 ? 0 : ~UInt32(0) << (32 - prefixLength)
        return address.value & mask == other.value & mask
    }
}
