import Addressing

/// One entry of `egress.allow` or `egress.deny`: a destination pattern with an optional port
/// or port range.
///
///     kms.*.amazonaws.com          `*` is exactly one DNS label
///     **.mycorp.com:443            `**` is one or more labels; ":443" limits the port
///     10.0.0.0/8:1024-65535        an IPv4 address or CIDR, with a port range
///     [2001:db8::/32]:443          IPv6 in brackets when a port follows
///     udp:time.example.com:123     "tcp:" or "udp:" first: that protocol only (else both;
///                                  unambiguous, as no host or IPv6 literal starts so)
public struct EgressRule: Sendable, Hashable, CustomStringConvertible {
    /// The transport a rule covers, when it names one.
    public enum Transport: String, Sendable, Hashable {
        case tcp, udp
    }

    public enum Host: Sendable, Hashable {
        /// Lower-cased labels, each a literal label, "*" or "**"; the trailing dot is dropped.
        case domain([String])
        case ipv4(IPv4Interface)
        case ipv6(bytes: [UInt8], prefixLength: Int)
    }

    public var host: Host
    public var ports: ClosedRange<UInt16>?
    /// nil: TCP and UDP alike.
    public var transport: Transport?
    public var text: String

    /// Whether the rule covers connections or flows of `transport`.
    public func covers(_ transport: Transport) -> Bool { self.transport.map { $0 == transport } ?? true }

    public var description: String { text }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case empty
        case wildcardInsideLabel(String)
        case badLabel(String)
        case badAddress(String)
        case badPort(String)

        public var description: String {
            switch self {
            case .empty: return "the pattern is empty"
            case .wildcardInsideLabel(let label): return "wildcard inside the label \"\(label)\": '*' and '**' must stand alone as a whole label"
            case .badLabel(let label): return "invalid label \"\(label)\": letters, digits and '-' only, not at either end"
            case .badAddress(let address): return "invalid address or prefix \"\(address)\""
            case .badPort(let port): return "invalid port or port range \"\(port)\" (1-65535, or LOW-HIGH)"
            }
        }
    }

    public static func parse(_ text: String) -> Result<EgressRule, ParseError> {
        guard !text.isEmpty else { return .failure(.empty) }
        var pattern = text[...]
        var transport: Transport?
        for candidate in [Transport.tcp, .udp] where pattern.lowercased().hasPrefix(candidate.rawValue + ":") {
            transport = candidate
            pattern = pattern.dropFirst(candidate.rawValue.count + 1)
            guard !pattern.isEmpty else { return .failure(.empty) }
        }
        let split: HostGrammar.Split
        switch HostGrammar.split(pattern, port: .optional) {
        case .success(let found): split = found
        case .failure(.unexpectedAfterBracket(let rest)): return .failure(.badPort(rest))
        case .failure: return .failure(.badAddress(String(pattern)))
        }
        let hostText = split.host, portText = split.port

        var ports: ClosedRange<UInt16>?
        if let portText {
            guard let range = parsePorts(portText) else { return .failure(.badPort(String(portText))) }
            ports = range
        }
        switch parseHost(hostText) {
        case .success(let host): return .success(EgressRule(host: host, ports: ports, transport: transport, text: text))
        case .failure(let error): return .failure(error)
        }
    }

    private static func parsePorts(_ text: Substring) -> ClosedRange<UInt16>? {
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(bounds.count) else { return nil }
        let numbers = bounds.map { bound -> UInt16? in
            guard bound.allSatisfy({ $0.isASCII && $0.isNumber }), let port = UInt16(bound), port > 0 else { return nil }
            return port
        }
        guard let low = numbers.first ?? nil, let high = numbers.last ?? nil, low <= high else { return nil }
        return low...high
    }

    private static func parseHost(_ text: Substring) -> Result<Host, ParseError> {
        guard !text.isEmpty else { return .failure(.empty) }
        if text.contains(":") { // IPv6, optionally with a prefix
            let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, let bytes = IPv6Address.parse(String(pieces[0])) else { return .failure(.badAddress(String(text))) }
            var prefix = 128
            if pieces.count == 2 {
                guard let value = Int(pieces[1]), (0...128).contains(value) else { return .failure(.badAddress(String(text))) }
                prefix = value
            }
            return .success(.ipv6(bytes: bytes, prefixLength: prefix))
        }
        let looksNumeric = text.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "." || $0 == "/") }
        if looksNumeric && (text.contains("/") || text.split(separator: ".").count == 4) {
            guard let interface = IPv4Interface(String(text), defaultPrefix: 32) else { return .failure(.badAddress(String(text))) }
            return .success(.ipv4(interface))
        }
        // "Example.COM." is "example.com"; "*" and "**" pass through unchanged.
        let labels = HostGrammar.canonical(text).split(separator: ".", omittingEmptySubsequences: false)
        for label in labels where label != "*" && label != "**" {
            if label.contains("*") { return .failure(.wildcardInsideLabel(String(label))) }
            if !Hostname.isValidLabel(label) { return .failure(.badLabel(String(label))) }
        }
        return .success(.domain(labels.map(String.init)))
    }
}
