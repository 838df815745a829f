import Addressing
import Glibc

/// Where an egress request wants to go, normalised: the form the policy checks is the form that
/// is sent to the parent and dialled, so no spelling of an address can slip past a rule.
///
/// IPv4 literals are read the way resolvers and URL parsers read them (`0x7f.1`, `2130706433`,
/// `0177.0.0.1`, `127.000.000.001` are all 127.0.0.1 — or 127.0.0.1 is what they mean to a
/// client, so that is what is checked); an IPv4-mapped IPv6 address is its IPv4 address;
/// percent-encoding is decoded; userinfo, zone identifiers and anything outside a host name's
/// characters are refused.
public struct Destination: Sendable, Hashable, CustomStringConvertible {
    /// A name (lower-case labels, no trailing dot) or an address: Addressing's one Host.
    public typealias Host = Addressing.Host

    public var host: Host
    public var port: UInt16

    public init(host: Host, port: UInt16) {
        self.host = host
        self.port = port
    }

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// The host alone, as it is sent on: "a.example.com", "10.0.0.1", "2001:db8::1".
    public var hostText: String { host.description }

    /// "host:port", IPv6 in brackets: the CONNECT authority sent to the parent.
    public var description: String { host.authority(port: port) }

    /// A CONNECT authority, `host:port` (the port is required).
    public static func parse(authority: String) -> Result<Destination, Problem> {
        guard !authority.contains("@") else { return .failure(Problem(description: "userinfo (\"@\") is not allowed in a proxy target")) }
        let split: HostGrammar.Split
        switch HostGrammar.split(authority[...], port: .required) {
        case .success(let found): split = found
        case .failure(.unclosedBracket): return .failure(Problem(description: "unclosed \"[\" in \"\(authority)\""))
        case .failure(.missingPort), .failure(.unexpectedAfterBracket): return .failure(Problem(description: "no port in \"\(authority)\""))
        case .failure(.ipv6NeedsBrackets): return .failure(Problem(description: "an IPv6 address with a port goes in brackets: \"[ADDRESS]:PORT\", not \"\(authority)\""))
        }
        let portPart = split.port ?? ""
        guard let port = parsePort(portPart) else { return .failure(Problem(description: "bad port \"\(portPart)\" (1-65535)")) }
        return parse(host: split.bracketed ? "[\(split.host)]" : String(split.host)).map { Destination(host: $0, port: port) }
    }

    /// A host as it appears in a URL or an authority: a name, an IPv4 literal in any of its
    /// spellings, or an IPv6 literal in brackets.
    public static func parse(host raw: String) -> Result<Host, Problem> {
        guard let decoded = percentDecoded(raw) else { return .failure(Problem(description: "bad percent-encoding in \"\(raw)\"")) }
        guard !decoded.isEmpty else { return .failure(Problem(description: "empty host")) }
        if decoded.hasPrefix("[") {
            let text = decoded.lowercased()
            guard text.hasSuffix("]"), text.count > 2 else { return .failure(Problem(description: "bad IPv6 literal \"\(raw)\"")) }
            let inner = String(text.dropFirst().dropLast())
            guard !inner.contains("%") else { return .failure(Problem(description: "zone identifiers are not allowed (\"\(raw)\")")) }
            guard let bytes = IPv6Address.parse(inner) else { return .failure(Problem(description: "bad IPv6 literal \"\(raw)\"")) }
            return .success(.address(IPAddress(bytes: bytes))) // an IPv4-mapped one is its IPv4 address
        }
        // Lower case, no trailing dot; the lenient IPv4 forms below are read from that.
        let text = HostGrammar.canonical(decoded)
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        // The WHATWG rule: a host whose last label is a number is an IPv4 address, or nothing.
        if let last = labels.last, isNumber(last) {
            guard let address = lenientIPv4(labels) else { return .failure(Problem(description: "\"\(raw)\" is neither a host name nor an IPv4 address")) }
            return .success(.ipv4(address))
        }
        guard text.utf8.count <= 253, labels.allSatisfy(Hostname.isValidLabel) else {
            return .failure(Problem(description: "\"\(raw)\" is not a valid host name"))
        }
        return .success(.name(labels.map(String.init)))
    }

    private static func parsePort(_ text: Substring) -> UInt16? {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(text), port > 0 else { return nil }
        return port
    }

    /// Decimal, 0x hexadecimal or 0-prefixed octal.
    private static func isNumber(_ label: Substring) -> Bool {
        if label.isEmpty { return false }
        if label.hasPrefix("0x") { return label.dropFirst(2).allSatisfy(\.isHexDigit) }
        return label.allSatisfy { $0.isASCII && $0.isNumber }
    }

    private static func number(_ label: Substring) -> UInt64? {
        guard label.utf8.count <= 40 else { return nil }
        if label.hasPrefix("0x") { return label.count == 2 ? 0 : UInt64(label.dropFirst(2), radix: 16) }
        if label.count > 1 && label.hasPrefix("0") { return UInt64(label.dropFirst(), radix: 8) }
        return UInt64(label, radix: 10)
    }

    /// inet_aton's forms: a, a.b (b: 24 bits), a.b.c (c: 16 bits), a.b.c.d.
    private static func lenientIPv4(_ labels: [Substring]) -> IPv4Address? {
        guard (1...4).contains(labels.count) else { return nil }
        let numbers = labels.map(number)
        guard numbers.allSatisfy({ $0 != nil }) else { return nil }
        let values = numbers.map { $0! }
        let leading = values.dropLast()
        guard leading.allSatisfy({ $0 <= 255 }) else { return nil }
        let lastBits = 8 * (5 - labels.count)
        guard values.last! < (UInt64(1) << lastBits) else { return nil }
        var result = UInt64(0)
        for (index, value) in leading.enumerated() { result |= value << UInt64(24 - 8 * index) }
        result |= values.last!
        return IPv4Address(UInt32(result))
    }

    private static func percentDecoded(_ text: String) -> String? {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard iterator.count >= 2, let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            iterator = iterator.dropFirst(2)
            bytes.append(value)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self), !decoded.contains("%") else { return nil }
        return decoded
    }
}
