import DocumentReading
/// One problem found in a boot JSON: where it is, what is wrong, and how to fix it.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    public var path: JSONPath
    /// Where the offending value starts in the text, when it exists there.
    public var location: SourceLocation?
    public var message: String
    public var hint: String?

    public init(path: JSONPath, location: SourceLocation? = nil, message: String, hint: String? = nil) {
        self.path = path
        self.location = location
        self.message = message
        self.hint = hint
    }

    /// `hosts[1].port (line 12, column 15): port 70000 is out of range 1-65535`, then the hint.
    public var description: String {
        var text = path.description
        if let location { text += " (\(location))" }
        text += ": " + message
        if let hint { text += "\n    hint: " + hint }
        return text
    }
}

/// Thrown when a boot JSON cannot be used: every issue found, not just the first.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var source: String
    public var issues: [ConfigIssue]

    public init(source: String, issues: [ConfigIssue]) {
        self.source = source
        self.issues = issues
    }

    public var description: String {
        let count = issues.count == 1 ? "1 error" : "\(issues.count) errors"
        return "\(source): \(count)\n" + issues.map { "  " + $0.description }.joined(separator: "\n")
    }
}

/// Collects issues while a config is read, so that all of them are reported at once.
final class IssueCollector {
    private(set) var issues: [ConfigIssue] = []

    func report(_ path: JSONPath, at location: SourceLocation? = nil, _ message: String, hint: String? = nil) {
        issues.append(ConfigIssue(path: path, location: location, message: message, hint: hint))
    }

    func report(_ field: Field, _ message: String, hint: String? = nil) {
        report(field.path, at: field.node.location, message, hint: hint)
    }

    var count: Int { issues.count }
}
