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
