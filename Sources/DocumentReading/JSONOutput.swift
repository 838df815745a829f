/// JSON that enclave-init writes (`describe-eif --json`, the measurements file, an image's
/// metadata): objects keep the order they are built in, so the output is the same bytes every
/// time (a reproducible image needs that of its metadata).
public indirect enum JSONOutput: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    /// A number as it was written (one read from a document and written back unchanged).
    case number(String)
    case bool(Bool)
    case null
    case array([JSONOutput])
    case object([(String, JSONOutput)])

    public static func == (lhs: JSONOutput, rhs: JSONOutput) -> Bool { lhs.rendered() == rhs.rendered() }

    /// Two-space indentation (as nitro-cli prints), or one line with `pretty: false`.
    public func rendered(pretty: Bool = true) -> String {
        var out = ""
        write(into: &out, depth: 0, pretty: pretty)
        return out
    }

    private func write(into out: inout String, depth: Int, pretty: Bool) {
        let newline = pretty ? "\n" : "", pad = pretty ? String(repeating: "  ", count: depth + 1) : ""
        let close = pretty ? String(repeating: "  ", count: depth) : "", colon = pretty ? ": " : ":"
        switch self {
        case .string(let text): Self.quote(text, into: &out)
        case .integer(let value): out += String(value)
        case .number(let text): out += text
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "[" + newline
            for (index, item) in items.enumerated() {
                out += pad
                item.write(into: &out, depth: depth + 1, pretty: pretty)
                out += (index == items.count - 1 ? "" : ",") + newline
            }
            out += close + "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            out += "{" + newline
            for (index, (key, value)) in members.enumerated() {
                out += pad
                Self.quote(key, into: &out)
                out += colon
                value.write(into: &out, depth: depth + 1, pretty: pretty)
                out += (index == members.count - 1 ? "" : ",") + newline
            }
            out += close + "}"
        }
    }

    /// A parsed document written back: the same members in the same order, numbers as written.
    public init(_ node: JSONNode) {
        switch node.value {
        case .null: self = .null
        case .bool(let value): self = .bool(value)
        case .number(let number): self = .number(number.text)
        case .string(let text): self = .string(text)
        case .array(let items): self = .array(items.map(JSONOutput.init))
        case .object(let members): self = .object(members.map { ($0.key, JSONOutput($0.value)) })
        }
    }

    private static func quote(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
