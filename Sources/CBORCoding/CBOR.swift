// CBOR (RFC 8949), as far as the NSM's messages use it: unsigned and negative integers, byte
// and text strings, arrays, maps, booleans, null, and (for the COSE document) tags. Written by
// hand: no CBOR package is available here, and these forty lines of each direction are all
// the NSM protocol needs. Decoding is strict and bounded: definite lengths only, lengths
// checked against what is left, nesting at most `maximumDepth`, no trailing bytes.

/// One CBOR data item.
public indirect enum CBOR: Sendable, Equatable {
    case unsigned(UInt64)
    case negative(UInt64) // the value is -1 - n
    case bytes([UInt8])
    case text(String)
    case array([CBOR])
    case map([(key: CBOR, value: CBOR)])
    case tagged(UInt64, CBOR)
    case bool(Bool)
    case null

    public static func == (a: CBOR, b: CBOR) -> Bool {
        switch (a, b) {
        case (.unsigned(let x), .unsigned(let y)), (.negative(let x), .negative(let y)): return x == y
        case (.bytes(let x), .bytes(let y)): return x == y
        case (.text(let x), .text(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.map(let x), .map(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case (.tagged(let t, let x), .tagged(let u, let y)): return t == u && x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    /// The value of `key` in a map with text keys.
    public subscript(key: String) -> CBOR? {
        guard case .map(let entries) = self else { return nil }
        return entries.first { $0.key == .text(key) }?.value
    }

    // MARK: - Encoding

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    private func encode(into out: inout [UInt8]) {
        switch self {
        case .unsigned(let value): Self.head(0, value, into: &out)
        case .negative(let value): Self.head(1, value, into: &out)
        case .bytes(let bytes):
            Self.head(2, UInt64(bytes.count), into: &out)
            out += bytes
        case .text(let text):
            Self.head(3, UInt64(text.utf8.count), into: &out)
            out += text.utf8
        case .array(let items):
            Self.head(4, UInt64(items.count), into: &out)
            for item in items { item.encode(into: &out) }
        case .map(let entries):
            Self.head(5, UInt64(entries.count), into: &out)
            for (key, value) in entries {
                key.encode(into: &out)
                value.encode(into: &out)
            }
        case .tagged(let tag, let item):
            Self.head(6, tag, into: &out)
            item.encode(into: &out)
        case .bool(let flag): out.append(flag ? 0xF5 : 0xF4)
        case .null: out.append(0xF6)
        }
    }

    /// The initial byte(s): major type and the shortest argument encoding.
    private static func head(_ major: UInt8, _ value: UInt64, into out: inout [UInt8]) {
        let type = major << 5
        switch value {
        case 0..<24: out.append(type | UInt8(value))
        case 24...0xFF: out += [type | 24, UInt8(value)]
        case 0x100...0xFFFF: out += [type | 25, UInt8(value >> 8), UInt8(value & 0xFF)]
        case 0x1_0000...0xFFFF_FFFF: out += [type | 26] + (0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        default: out += [type | 27] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        }
    }

    // MARK: - Decoding

    public static let maximumDepth = 16

    public struct DecodingError: Error, Equatable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "CBOR at byte \(offset): \(reason)" }
    }

    /// Decodes exactly one item filling `bytes`.
    public static func decode(_ bytes: [UInt8]) throws(DecodingError) -> CBOR {
        var offset = 0
        let item = try decodeItem(bytes, &offset, depth: 0)
        guard offset == bytes.count else { throw DecodingError(offset: offset, reason: "\(bytes.count - offset) bytes after the item") }
        return item
    }

    private static func decodeItem(_ bytes: [UInt8], _ offset: inout Int, depth: Int) throws(DecodingError) -> CBOR {
        guard depth <= maximumDepth else { throw DecodingError(offset: offset, reason: "nested deeper than \(maximumDepth)") }
        guard offset < bytes.count else { throw DecodingError(offset: offset, reason: "the input ends before an item") }
        let start = offset
        let initial = bytes[offset]
        offset += 1
        let major = initial >> 5, info = initial & 0x1F
        if major == 7 {
            switch info {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            default: throw DecodingError(offset: start, reason: "unsupported simple value or float (0x\(String(initial, radix: 16)))")
            }
        }
        let argument: UInt64
        switch info {
        case 0..<24: argument = UInt64(info)
        case 24...27:
            let width = 1 << Int(info - 24)
            guard bytes.count - offset >= width else { throw DecodingError(offset: start, reason: "the input ends inside a length") }
            argument = bytes[offset..<(offset + width)].reduce(0) { $0 << 8 | UInt64($1) }
            offset += width
        default: throw DecodingError(offset: start, reason: "indefinite lengths and reserved values are not accepted")
        }
        func length() throws(DecodingError) -> Int {
            guard argument <= UInt64(bytes.count - offset) else { throw DecodingError(offset: start, reason: "a length of \(argument) exceeds what is left") }
            return Int(argument)
        }
        switch major {
        case 0: return .unsigned(argument)
        case 1: return .negative(argument)
        case 2:
            let count = try length()
            defer { offset += count }
            return .bytes(Array(bytes[offset..<(offset + count)]))
        case 3:
            let count = try length()
            guard let text = String(validating: bytes[offset..<(offset + count)], as: UTF8.self) else {
                throw DecodingError(offset: start, reason: "a text string that is not UTF-8")
            }
            offset += count
            return .text(text)
        case 4:
            let count = try length() // each item takes at least a byte
            var items: [CBOR] = []
            items.reserveCapacity(count)
            for _ in 0..<count { items.append(try decodeItem(bytes, &offset, depth: depth + 1)) }
            return .array(items)
        case 5:
            let count = try length()
            var entries: [(key: CBOR, value: CBOR)] = []
            for _ in 0..<count {
                let key = try decodeItem(bytes, &offset, depth: depth + 1)
                let value = try decodeItem(bytes, &offset, depth: depth + 1)
                entries.append((key, value))
            }
            return .map(entries)
        default: // 6: a tag
            return .tagged(argument, try decodeItem(bytes, &offset, depth: depth + 1))
        }
    }
}
