import Addressing
import DocumentReading
import Glibc

/// The allowlist file of AWS's vsock-proxy (`/etc/nitro_enclaves/vsock-proxy.yaml`):
///
///     allowlist:
///     - {address: kms.us-east-1.amazonaws.com, port: 443}
///     - address: 10.0.0.5
///       port: 2049
///
/// Only this shape is read (flow or block entries, comments, quoted values), by hand: the
/// YAML library of the mirror (Yams) imports all of Foundation and made a static probe binary
/// of 58.8 MB against our 18 MiB. Anything else is an error naming the line.
struct VsockProxyAllowlist: Equatable {
    struct Entry: Equatable {
        var address: String
        var port: UInt16
        var line: Int
    }

    static let defaultPath = "/etc/nitro_enclaves/vsock-proxy.yaml"

    var source: String
    var entries: [Entry]

    /// Is `remote` listed? Names compare case-insensitively without a trailing dot, addresses
    /// by value (so `::1` and `0:0::1` are the same). Like vsock-proxy, the port must match;
    /// unlike it, a listed name is not resolved to also admit its addresses.
    func permits(_ remote: HostPort) -> Bool {
        let wanted = HostGrammar.canonical(remote.host)
        return entries.contains { $0.port == remote.port && HostGrammar.canonical($0.address) == wanted }
    }

    static func load(path: String) throws(ParentError) -> VsockProxyAllowlist {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(path, limit: 1 << 20)
        } catch {
            throw .allowlistUnreadable(path: path, error)
        }
        return try parse(String(decoding: bytes, as: UTF8.self), source: path)
    }

    static func parse(_ text: String, source: String) throws(ParentError) -> VsockProxyAllowlist {
        var parser = Parser(source: source)
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            try parser.take(line: raw, number: index + 1)
        }
        return try parser.finish()
    }
}

/// Line by line: the `allowlist:` key, then `- ` items that are flow maps or block maps.
private struct Parser {
    let source: String
    private var sawAllowlist = false
    private var entries: [VsockProxyAllowlist.Entry] = []
    /// The block-style entry being read: its fields so far, its line, the indent of its keys.
    private var open: (fields: [String: String], line: Int, indent: Int)?

    init(source: String) { self.source = source }

    mutating func take(line raw: Substring, number: Int) throws(ParentError) {
        let line = Self.withoutComment(raw)
        let content = line.drop { $0 == " " }
        let indent = line.count - content.count
        if content.isEmpty || content == "---" { return }
        if line.contains("\t") { throw fail(number, "tabs are not allowed for indentation in YAML") }
        if indent == 0 && !content.hasPrefix("-") {
            try close()
            let (key, value) = try pair(content, number)
            guard key == "allowlist" else { throw fail(number, "unknown key \"\(key)\": the file holds only \"allowlist\"") }
            sawAllowlist = true
            if value == "[]" { return }
            guard value.isEmpty else { throw fail(number, "write the entries on the lines after \"allowlist:\"") }
            return
        }
        guard sawAllowlist else { throw fail(number, "expected \"allowlist:\" first") }
        if content.hasPrefix("-") {
            try close()
            let item = content.dropFirst().drop { $0 == " " }
            if item.hasPrefix("{") {
                guard item.hasSuffix("}") else { throw fail(number, "a {address: ..., port: ...} entry must end on its line with \"}\"") }
                var fields: [String: String] = [:]
                for part in item.dropFirst().dropLast().split(separator: ",") {
                    let (key, value) = try pair(part.trimmed, number)
                    fields[key] = value
                }
                entries.append(try entry(fields, number))
            } else {
                let (key, value) = try pair(item, number)
                open = ([key: value], number, indent + (content.count - item.count))
            }
            return
        }
        guard var current = open, indent == current.indent else {
            throw fail(number, "expected an entry \"- {address: HOST, port: PORT}\" (check the indentation)")
        }
        let (key, value) = try pair(content, number)
        guard current.fields[key] == nil else { throw fail(number, "\"\(key)\" given twice in one entry") }
        current.fields[key] = value
        open = current
    }

    mutating func finish() throws(ParentError) -> VsockProxyAllowlist {
        try close()
        guard sawAllowlist else { throw ParentError.allowlist(source: source, line: nil, message: "no \"allowlist:\" key") }
        return VsockProxyAllowlist(source: source, entries: entries)
    }

    private mutating func close() throws(ParentError) {
        guard let current = open else { return }
        open = nil
        entries.append(try entry(current.fields, current.line))
    }

    private func entry(_ fields: [String: String], _ number: Int) throws(ParentError) -> VsockProxyAllowlist.Entry {
        if let unknown = fields.keys.sorted().first(where: { $0 != "address" && $0 != "port" }) {
            throw fail(number, "unknown key \"\(unknown)\" in an entry: entries have \"address\" and \"port\"")
        }
        guard let address = fields["address"], !address.isEmpty else { throw fail(number, "the entry has no \"address\"") }
        guard let portText = fields["port"] else { throw fail(number, "the entry for \(address) has no \"port\"") }
        guard let port = UInt16(portText), port > 0 else { throw fail(number, "port \"\(portText)\" is not 1-65535") }
        return .init(address: address, port: port, line: number)
    }

    private func pair(_ text: Substring, _ number: Int) throws(ParentError) -> (String, String) {
        guard let colon = text.firstIndex(of: ":") else { throw fail(number, "expected \"key: value\", found \"\(text)\"") }
        let key = Self.unquoted(text[..<colon].trimmed)
        let value = Self.unquoted(text[text.index(after: colon)...].trimmed)
        guard !key.isEmpty else { throw fail(number, "a key is empty") }
        return (key, value)
    }

    private func fail(_ number: Int, _ message: String) -> ParentError {
        .allowlist(source: source, line: number, message: message)
    }

    private static func unquoted(_ text: Substring) -> String {
        for quote in ["\"", "'"] where text.count >= 2 && text.hasPrefix(quote) && text.hasSuffix(quote) {
            return String(text.dropFirst().dropLast())
        }
        return String(text)
    }

    /// A `#` at the start or after a space begins a comment (values here never contain one).
    private static func withoutComment(_ line: Substring) -> Substring {
        var previous: Character = " "
        for index in line.indices {
            if line[index] == "#" && (previous == " " || previous == "\t") { return line[..<index].trimmedTrailing }
            previous = line[index]
        }
        return line.trimmedTrailing
    }
}

extension Substring {
    fileprivate var trimmed: Substring { drop { $0 == " " }.trimmedTrailing }
    fileprivate var trimmedTrailing: Substring {
        var text = self
        while let last = text.last, last == " " || last == "\r" || last == "\t" { text.removeLast() }
        return text
    }
}
