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

    /// The address, when the host is a literal.
    public var address: IPAddress? { IPAddress(host) }

    /// "host:port"; with `defaultPort`, the port may be left out ("kms.example.com" is
    /// kms.example.com:443 with 443), in the same grammar: IPv6 in brackets either way.
    public static func parse(_ text: String, defaultPort: UInt16? = nil) -> Result<HostPort, ParseError> {
        let split: HostGrammar.Split
        switch HostGrammar.split(text[...], port: defaultPort == nil ? .required : .optional) {
        case .success(let found): split = found
        case .failure(.unclosedBracket): return .failure(.badHost(text))
        case .failure(.missingPort), .failure(.unexpectedAfterBracket): return .failure(.missingPort)
        case .failure(.ipv6NeedsBrackets): return .failure(.badHost(text + " (write IPv6 addresses in brackets)"))
        }
        let host = String(split.host)
        if split.bracketed {
            guard IPv6Address.isValid(host) else { return .failure(.badHost(host)) }
        } else {
            guard Hostname.isValid(host) else { return .failure(.badHost(host)) }
        }
        if split.port == nil, let defaultPort { return .success(HostPort(host: host, port: defaultPort)) }
        let portText = split.port ?? ""
        guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(portText), (1...65535).contains(port) else {
            return .failure(.badPort(String(portText)))
        }
        return .success(HostPort(host: host, port: UInt16(port)))
    }

    public var description: String { HostGrammar.authority(host: host, port: port) }
}
