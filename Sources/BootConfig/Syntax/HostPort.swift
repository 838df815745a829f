/// A `host:port` destination as written in `hosts[].remote`: a name, an IPv4 address, or an
/// IPv6 address in brackets ("[2001:db8::1]:443").
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public enum ParseError: Error, Equatable {
        case missingPort, badPort(String), badHost(String)
    }

    public static func parse(_ text: String) -> Result<HostPort, ParseError> {
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.badHost(text)) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(.missingPort) }
            portText = rest.dropFirst()
            guard IPv6Address.isValid(String(host)) else { return .failure(.badHost(String(host))) }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(.missingPort) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return .failure(.badHost(String(host) + " (write IPv6 addresses in brackets)")) }
            guard Hostname.isValid(String(host)) else { return .failure(.badHost(String(host))) }
        }
        guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), (1...65535).contains(port) else {
            return .failure(.badPort(String(portText)))
        }
        return .success(HostPort(host: String(host), port: UInt16(port)))
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Just enough IPv6 syntax checking for configs: hex groups, at most one "::", an optional
/// dotted IPv4 tail.
public enum IPv6Address {
    public static func isValid(_ text: String) -> Bool { parse(text) != nil }

    /// The 16 bytes of the address, or nil when it is not a valid IPv6 literal.
    public static func parse(_ text: String) -> [UInt8]? {
        guard !text.isEmpty, text.count <= 45 else { return nil }
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (offset, piece) in pieces.enumerated() {
                if offset == pieces.count - 1, piece.contains("."), let v4 = IPv4Address(String(piece)) {
                    result += [UInt16(v4.value >> 16), UInt16(v4.value & 0xFFFF)]
                } else {
                    guard (1...4).contains(piece.count), let group = UInt16(piece, radix: 16) else { return nil }
                    result.append(group)
                }
            }
            return result
        }
        guard let head = groups(halves[0]) else { return nil }
        var all: [UInt16]
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
            all = head
        }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}

extension String {
    /// Splits on a multi-character separator (FoundationEssentials is not imported here).
    func components(separatedBy separator: String) -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: separator) {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
