/// The one grammar of hosts in enclave-init: how `host:port` and `[v6]:port` split, and the
/// form in which two hosts compare equal. Every place that reads a host or a host:port (the
/// boot JSON's remotes and egress rules, CONNECT and URL authorities, vsock-proxy's allowlist,
/// DNS names) goes through here, so a spelling accepted by one is read the same by the others.
public enum HostGrammar {
    /// Whether a port must follow the host.
    public enum PortPresence: Sendable {
        case required, optional
    }

    public enum SplitError: Error, Equatable, Sendable {
        /// "[2001:db8::1" with no "]".
        case unclosedBracket
        /// A port is required and none is written.
        case missingPort
        /// Something other than ":port" after "]": the text after it.
        case unexpectedAfterBracket(String)
        /// An IPv6 address with a port, not in brackets ("2001:db8::1:443" is ambiguous).
        case ipv6NeedsBrackets
    }

    /// A host and its port as written, the brackets of an IPv6 literal removed (`bracketed`
    /// says they were there). Without brackets, a text with several colons is an IPv6 address
    /// without a port, which only `.optional` accepts.
    public struct Split: Equatable, Sendable {
        public var host: Substring
        public var port: Substring?
        public var bracketed: Bool

        public init(host: Substring, port: Substring?, bracketed: Bool) {
            self.host = host
            self.port = port
            self.bracketed = bracketed
        }
    }

    public static func split(_ text: Substring, port presence: PortPresence) -> Result<Split, SplitError> {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.unclosedBracket) }
            let host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                return presence == .required ? .failure(.missingPort) : .success(Split(host: host, port: nil, bracketed: true))
            }
            guard rest.hasPrefix(":") else { return .failure(.unexpectedAfterBracket(String(rest))) }
            return .success(Split(host: host, port: rest.dropFirst(), bracketed: true))
        }
        let colons = text.count(where: { $0 == ":" })
        switch colons {
        case 0:
            return presence == .required ? .failure(.missingPort) : .success(Split(host: text, port: nil, bracketed: false))
        case 1:
            let colon = text.firstIndex(of: ":")!
            return .success(Split(host: text[..<colon], port: text[text.index(after: colon)...], bracketed: false))
        default:
            return presence == .required ? .failure(.ipv6NeedsBrackets) : .success(Split(host: text, port: nil, bracketed: false))
        }
    }

    /// A host as compared: lower case, without the brackets of an IPv6 literal and without the
    /// trailing dot of a fully qualified name; an IP address in its one canonical text (so
    /// `::1` and `0:0::1`, `[::1]` and `::1` are the same host).
    public static func canonical(_ host: some StringProtocol) -> String {
        var text = host.lowercased()
        if text.hasPrefix("[") && text.hasSuffix("]") && text.count >= 2 { text = String(text.dropFirst().dropLast()) }
        if text.count > 1 && text.hasSuffix(".") { text.removeLast() }
        if let address = IPv4Address(text) { return address.description }
        if text.contains(":"), let bytes = IPv6Address.parse(text) { return IPv6Address.text(bytes) }
        return text
    }

    /// `host` ready to be followed by ":port": IPv6 literals in brackets.
    public static func authority(host: String, port: UInt16) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
