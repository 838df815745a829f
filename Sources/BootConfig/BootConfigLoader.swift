import DocumentReading
import Glibc

/// Reads, parses, decodes and validates a boot JSON. The entry point of this module.
public enum BootConfigLoader {
    /// Larger than any sensible config; stops a wrong path (a disk image, /dev/zero) early.
    public static let maximumSize = 1 << 20

    /// Where the boot JSON is when neither --config nor $ENCLAVE_INIT_CONFIG says.
    public static let defaultPath = "/etc/enclave-init/boot.json"
    public static let environmentVariable = "ENCLAVE_INIT_CONFIG"

    /// The config path every command uses: `explicit` (--config), else $ENCLAVE_INIT_CONFIG
    /// when set and not empty, else `defaultPath`.
    public static func resolvedPath(explicit: String?) -> String {
        if let explicit { return explicit }
        if let value = getenv(environmentVariable).map({ String(cString: $0) }), !value.isEmpty { return value }
        return defaultPath
    }

    /// - Parameters:
    ///   - commandOverride: the command given after `--`, which replaces app.command.
    ///   - commandRequired: false for the parent half, which runs no app.
    public static func load(path: String, commandOverride: [String]? = nil,
                            commandRequired: Bool = true) throws(ConfigError) -> BootConfiguration {
        try loadWithBytes(path: path, commandOverride: commandOverride, commandRequired: commandRequired).config
    }

    /// The config and the exact bytes it was read from (what the boot measures into a PCR).
    public static func loadWithBytes(path: String, commandOverride: [String]? = nil,
                                     commandRequired: Bool = true) throws(ConfigError) -> (config: BootConfiguration, bytes: [UInt8]) {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(path, limit: maximumSize)
        } catch {
            throw ConfigError(source: path, issues: [ConfigIssue(path: .root, message: "cannot read the config: \(error)",
                                                                 hint: "pass --config PATH or set ENCLAVE_INIT_CONFIG")])
        }
        return (try decode(bytes, source: path, commandOverride: commandOverride, commandRequired: commandRequired), bytes)
    }

    public static func decode(_ bytes: [UInt8], source: String = "boot JSON", commandOverride: [String]? = nil,
                              commandRequired: Bool = true) throws(ConfigError) -> BootConfiguration {
        let root: JSONNode
        do {
            root = try JSONParser.parse(bytes)
        } catch {
            throw ConfigError(source: source, issues: [ConfigIssue(path: .root, location: error.location,
                                                                   message: "malformed JSON: \(error.message)")])
        }
        let issues = IssueCollector()
        var decoder = ConfigDecoder(issues: issues)
        var config = decoder.decode(root)
        let override = commandOverride.flatMap { $0.isEmpty ? nil : $0 }
        ConfigValidator(config: config, issues: issues, allHostsDecoded: decoder.allHostsDecoded,
                        sourceIndices: decoder.sourceIndices,
                        commandRequired: commandRequired && override == nil).validate()
        guard issues.issues.isEmpty else { throw ConfigError(source: source, issues: inReadingOrder(issues.issues, root: root)) }
        if let override { config.app.command = override }
        return config
    }

    /// Issues sorted by where they stand in the file; issues found by cross-field checks get
    /// the location of the value their path names.
    private static func inReadingOrder(_ issues: [ConfigIssue], root: JSONNode) -> [ConfigIssue] {
        let located = issues.map { issue -> ConfigIssue in
            var issue = issue
            if issue.location == nil { issue.location = root.node(at: issue.path)?.location }
            return issue
        }
        return located.enumerated().sorted { a, b in
            switch (a.element.location, b.element.location) {
            case let (x?, y?) where x != y: return (x.line, x.column) < (y.line, y.column)
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a.offset < b.offset
            }
        }.map(\.element)
    }
}
