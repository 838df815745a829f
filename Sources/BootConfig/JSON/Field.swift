import DocumentReading
import Addressing

/// A JSON value together with its path, read into typed values with every problem reported
/// to an IssueCollector. Each `read…` returns nil after reporting when the value is unusable.
struct Field {
    let node: JSONNode
    let path: JSONPath
    let issues: IssueCollector

    var value: JSONValue { node.value }

    func typeMismatch(_ expected: String, hint: String? = nil) {
        issues.report(self, "expected \(expected), found \(value.typeName)\(foundSuffix)", hint: hint)
    }

    private var foundSuffix: String {
        switch value {
        case .string(let string): return " \"\(string.prefix(60))\""
        case .number(let number): return " \(number.text)"
        case .bool(let bool): return " \(bool)"
        default: return ""
        }
    }

    func string() -> String? {
        guard case .string(let string) = value else { typeMismatch("a string"); return nil }
        return string
    }

    func nonEmptyString() -> String? {
        guard let string = string() else { return nil }
        guard !string.isEmpty else { issues.report(self, "must not be empty"); return nil }
        return string
    }

    func bool() -> Bool? {
        guard case .bool(let bool) = value else { typeMismatch("true or false"); return nil }
        return bool
    }

    /// An integer within `range`; the message names the range, e.g. "port 70000 is out of range 1-65535".
    func integer(_ range: ClosedRange<Int64>, noun: String, hint: String? = nil) -> Int64? {
        guard case .number(let number) = value else { typeMismatch("an integer (\(noun))"); return nil }
        guard let integer = number.integer else {
            // 1.0 or 1e3: a whole number written with a fraction or an exponent.
            let whole = Double(number.text).flatMap { $0.rounded() == $0 && abs($0) < 1e15 ? Int64($0) : nil }
            let fix = whole.map { "write \($0), without a decimal point or exponent" }
            issues.report(self, "\(noun) must be a whole number, found \(number.text)",
                          hint: fix ?? hint ?? "allowed range is \(range.lowerBound)-\(range.upperBound)")
            return nil
        }
        guard range.contains(integer) else {
            issues.report(self, "\(noun) \(integer) is out of range \(range.lowerBound)-\(range.upperBound)", hint: hint)
            return nil
        }
        return integer
    }

    func port() -> UInt16? { integer(1...65535, noun: "port").map { UInt16($0) } }
    func vsockPort() -> UInt32? { integer(VsockLimits.ports, noun: "vsock port").map { UInt32($0) } }

    /// The elements of an array, each as a Field with its index in the path.
    func array() -> [Field]? {
        guard case .array(let nodes) = value else { typeMismatch("an array"); return nil }
        return nodes.enumerated().map { Field(node: $1, path: path / $0, issues: issues) }
    }

    /// An array of strings; nil (after reporting) if any element is not a string.
    func stringArray() -> [String]? {
        guard let elements = array() else { return nil }
        let strings = elements.map { $0.string() }
        return strings.contains(where: { $0 == nil }) ? nil : strings.compactMap { $0 }
    }

    /// An object whose keys must all be in `known`; unknown keys are reported with a suggestion.
    func object(known: [String]) -> ObjectFields? {
        guard case .object(let members) = value else { typeMismatch("an object"); return nil }
        var misspelt: Set<String> = []
        for member in members where !known.contains(member.key) {
            let match = closestMatch(to: member.key, in: known)
            if let match { misspelt.insert(match) }
            let suggestion = match.map { "did you mean \"\($0)\"? " } ?? ""
            issues.report(path / member.key, at: member.keyLocation, "unknown key \"\(member.key)\"",
                          hint: suggestion + "known keys here: " + known.joined(separator: ", "))
        }
        return ObjectFields(field: self, members: members, misspelt: misspelt)
    }

    /// An object with free-form keys (such as `app.env`).
    func members() -> [(key: String, field: Field)]? {
        guard case .object(let members) = value else { typeMismatch("an object"); return nil }
        return members.map { ($0.key, Field(node: $0.value, path: path / $0.key, issues: issues)) }
    }
}

/// The members of one JSON object, looked up by key.
struct ObjectFields {
    let field: Field
    let members: [JSONMember]
    /// Known keys that an unknown key of this object was reported as a misspelling of.
    var misspelt: Set<String> = []

    subscript(key: String) -> Field? {
        guard let member = members.first(where: { $0.key == key }) else { return nil }
        return Field(node: member.value, path: field.path / key, issues: field.issues)
    }

    /// Reports a missing required key at the object itself — unless a misspelling of it was
    /// reported already ("did you mean"): one mistake, one message.
    func required(_ key: String, hint: String? = nil) -> Field? {
        if let present = self[key] { return present }
        if misspelt.contains(key) { return nil }
        field.issues.report(field.path / key, at: field.node.location, "required key \"\(key)\" is missing", hint: hint)
        return nil
    }
}
