import Addressing

/// A URL written where a host or host:port belongs (`"https://kms.us-east-1.amazonaws.com"` as
/// an egress pattern or a remote): the commonest slip when copying an endpoint from AWS's
/// documentation. Recognised so that the error can give the line to write instead.
enum URLSpelling {
    /// `scheme://host[:port][/path…]` → `host:port` (the scheme's port when none is written:
    /// https 443, http 80), or `host` for another scheme without a port; nil when `text` is no URL.
    static func hostPort(of text: String) -> String? {
        guard let separator = text.firstRange(of: "://") else { return nil }
        let scheme = text[..<separator.lowerBound].lowercased()
        let schemeCharacters: Set<Character> = ["+", "-", "."]
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isLetter || schemeCharacters.contains($0) }) else { return nil }
        var authority = text[separator.upperBound...]
        let pathStart: Set<Character> = ["/", "?", "#"]
        if let end = authority.firstIndex(where: { pathStart.contains($0) }) { authority = authority[..<end] }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] } // user:password@
        guard !authority.isEmpty else { return nil }
        if case .success(let split) = HostGrammar.split(authority, port: .optional), split.port != nil { return String(authority) }
        switch scheme {
        case "https", "wss": return "\(authority):443"
        case "http", "ws": return "\(authority):80"
        default: return String(authority)
        }
    }
}
