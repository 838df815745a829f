/// The one writer of HTTP/1 heads. Every request enclave-init sends (KMS, IMDS, CONNECT to the
/// egress proxy and to the parent, a plain request forwarded to its origin) and every response
/// it writes is put together here, and nowhere else by concatenation: a value that came from
/// somewhere else (a session token the parent served, a header KMS answered with) can never
/// carry a CR or LF into the head and so add fields or a second request after it. A field that
/// is not safe is refused with its name, never its value (it may be a secret).
public enum HeadWriter {
    /// A part of a head that cannot be written as it is. `field`: the header's name, or
    /// "method", "request target", "reason phrase".
    public struct UnsafeField: Error, Equatable, Sendable, CustomStringConvertible {
        public var field: String
        public var reason: String

        public init(field: String, reason: String) {
            self.field = field
            self.reason = reason
        }

        public var description: String { "\(field): \(reason)" }
    }

    /// "METHOD target HTTP/1.1", then each field, then the empty line.
    public static func request(method: String, target: String, headers: [(name: String, value: String)]) throws(UnsafeField) -> [UInt8] {
        guard !method.isEmpty, method.allSatisfy(RequestHead.isTokenCharacter) else {
            throw UnsafeField(field: "method", reason: "not an HTTP token")
        }
        guard !target.isEmpty, target.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw UnsafeField(field: "request target", reason: "empty, or has a space, a control character or a byte outside ASCII")
        }
        return try written(startLine: "\(method) \(target) HTTP/1.1", headers: headers)
    }

    /// "HTTP/1.1 status phrase", then each field, then the empty line.
    public static func response(status: Int, phrase: String, headers: [(name: String, value: String)]) throws(UnsafeField) -> [UInt8] {
        guard (100...999).contains(status) else { throw UnsafeField(field: "status", reason: "\(status) is not a three-digit code") }
        try check(value: phrase, of: "reason phrase")
        return try written(startLine: "HTTP/1.1 \(status) \(phrase)", headers: headers)
    }

    /// A field value is visible ASCII, spaces and tabs: no CR, LF, NUL or other control
    /// character, and nothing outside ASCII (RequestHead.parse refuses the same when reading).
    public static func check(value: String, of field: String) throws(UnsafeField) {
        for byte in value.utf8 where !(byte == 9 || (0x20...0x7E).contains(byte)) {
            let what = byte == 13 || byte == 10 ? "a CR or LF" : byte < 0x20 || byte == 0x7F ? "a control character" : "a byte outside ASCII"
            throw UnsafeField(field: field, reason: "its value has \(what), which cannot be sent in an HTTP head")
        }
    }

    private static func written(startLine: String, headers: [(name: String, value: String)]) throws(UnsafeField) -> [UInt8] {
        var head = Array(startLine.utf8) + [13, 10]
        for (name, value) in headers {
            guard !name.isEmpty, name.allSatisfy(RequestHead.isTokenCharacter) else {
                throw UnsafeField(field: "a header name", reason: "\"\(String(decoding: name.utf8.filter { (0x21...0x7E).contains($0) }.prefix(40), as: UTF8.self))\" is not an HTTP token")
            }
            try check(value: value, of: name)
            head += Array(name.utf8) + [UInt8(ascii: ":"), UInt8(ascii: " ")] + Array(value.utf8) + [13, 10]
        }
        return head + [13, 10]
    }
}
