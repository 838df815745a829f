/// A parsed JSON document in which every value remembers where it stood in the text, so that
/// validation errors can name the line and column as well as the JSON path.
public struct JSONNode: Sendable, Equatable {
    public var value: JSONValue
    public var location: SourceLocation

    public init(_ value: JSONValue, at location: SourceLocation) {
        self.value = value
        self.location = location
    }
}

/// A line and column in the config text, both counted from 1 (columns in characters).
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "line \(line), column \(column)" }
}

public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONNode])
    /// Members in document order; the parser rejects duplicate keys.
    case object([JSONMember])

    /// The JSON type name, as used in "expected X, found Y" messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number(let number): return number.integer == nil ? "number" : "integer"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var keyLocation: SourceLocation
    public var value: JSONNode
}

/// A JSON number kept as written, with its exact integer value when it has one.
public struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    public var text: String
    /// Set when the number is written without fraction or exponent and fits in 64 bits.
    public var integer: Int64?

    public init(text: String) {
        self.text = text
        let isPlainInteger = !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
        self.integer = isPlainInteger ? Int64(text) : nil
    }

    public var description: String { text }
}

extension JSONNode {
    /// The value at `path`, if the document has one there.
    public func node(at path: JSONPath) -> JSONNode? {
        var node = self
        for component in path.components {
            switch (component, node.value) {
            case (.key(let key), .object(let members)):
                guard let member = members.first(where: { $0.key == key }) else { return nil }
                node = member.value
            case (.index(let index), .array(let elements)) where elements.indices.contains(index):
                node = elements[index]
            default:
                return nil
            }
        }
        return node
    }
}
