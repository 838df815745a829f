/// `app.user`: "uid[:gid]" or "name[:group]" (names are resolved from the image's /etc/passwd
/// and /etc/group at spawn time: a static binary has no NSS).
public struct UserSpec: Sendable, Hashable, CustomStringConvertible {
    public enum Identity: Sendable, Hashable, CustomStringConvertible {
        case id(UInt32)
        case name(String)
        public var description: String {
            switch self {
            case .id(let id): return String(id)
            case .name(let name): return name
            }
        }
    }

    public var user: Identity
    public var group: Identity?

    public init(user: Identity, group: Identity? = nil) {
        self.user = user
        self.group = group
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let user = Self.identity(parts[0]) else { return nil }
        self.user = user
        if parts.count == 2 {
            guard let group = Self.identity(parts[1]) else { return nil }
            self.group = group
        }
    }

    public var description: String { group.map { "\(user):\($0)" } ?? user.description }

    /// Numeric ids up to 2^32-2 (2^32-1 is "no id"); names as useradd accepts them.
    private static func identity(_ text: Substring) -> Identity? {
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let id = UInt32(text), id != UInt32.max else { return nil }
            return .id(id)
        }
        guard (1...32).contains(text.count), let first = text.unicodeScalars.first,
              first == "_" || ("a"..."z").contains(first) || ("A"..."Z").contains(first),
              text.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) })
        else { return nil }
        return .name(String(text))
    }
}
