/// An HTTP/1 request head, parsed strictly: the request line, then header fields, every line
/// ending in CRLF, printable ASCII only. Written by hand, once, for the three places that read
/// one (the egress proxy, the parent's CONNECT server, the attestation endpoint): they need the
/// raw head (to check it, rewrite it, and relay every byte after it untouched), not a decoded
/// stream, and a second, general HTTP parser (NIOHTTP1 with llhttp) cost 0.4 MiB of the binary
/// for one 160-line endpoint.
public struct RequestHead: Sendable {
    public var method: String
    public var target: String
    public var version: String
    public var headers: [(name: String, value: String)]

    public static let maximumHeaderCount = 100

    /// Status 400 (malformed) or 431 (too many fields), and a one-line reason.
    public struct Rejection: Error, Equatable, Sendable {
        public var status: Int
        public var reason: String
        public init(status: Int, reason: String) {
            self.status = status
            self.reason = reason
        }
    }

    /// `head` ends with the empty line ("\r\n\r\n").
    public static func parse(_ head: [UInt8]) -> Result<RequestHead, Rejection> {
        func bad(_ reason: String) -> Result<RequestHead, Rejection> { .failure(Rejection(status: 400, reason: reason)) }
        // Heads are ASCII; a byte outside printable ASCII, tab, CR and LF is refused outright.
        guard head.allSatisfy({ $0 == 9 || $0 == 10 || $0 == 13 || (32...126).contains($0) }) else {
            return bad("the request head has bytes outside printable ASCII")
        }
        guard head.count >= 4, head.suffix(4).elementsEqual(HeadReader.terminator) else { return bad("the request head does not end with an empty line") }
        guard let lines = crlfLines(head.dropLast(4)), let requestLine = lines.first else { return bad("a bare CR or LF in the request head") }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isTokenCharacter), !parts[1].isEmpty else {
            return bad("malformed request line \"\(requestLine.prefix(200))\"")
        }
        guard parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0" else { return bad("unsupported protocol \"\(parts[2].prefix(20))\"") }

        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard headers.count < maximumHeaderCount else { return .failure(Rejection(status: 431, reason: "more than \(maximumHeaderCount) header fields")) }
            guard let colon = line.firstIndex(of: ":"), line.first != " ", line.first != "\t" else {
                return bad("malformed header line \"\(line.prefix(100))\"")
            }
            let name = line[..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenCharacter) else { return bad("malformed header name \"\(name.prefix(100))\"") }
            headers.append((String(name), String(line[line.index(after: colon)...].trimmingSpaces)))
        }
        return .success(RequestHead(method: String(parts[0]), target: String(parts[1]), version: String(parts[2]), headers: headers))
    }

    /// The index just past the first "\r\n\r\n" (the end of a head), looking from `offset` on.
    public static func endOfHead<Bytes: RandomAccessCollection>(in bytes: Bytes, from offset: Int = 0) -> Int?
    where Bytes.Element == UInt8, Bytes.Index == Int {
        guard bytes.count >= 4 else { return nil }
        var index = bytes.startIndex + offset
        while index <= bytes.endIndex - 4 {
            if bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 { return index + 4 }
            index += 1
        }
        return nil
    }

    /// Every value of a header field, by name in any case.
    public func values(of name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.name.lowercased() == lower }.map(\.value)
    }

    /// The path of an origin-form target, without its query.
    public var path: String { target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? target }

    /// Lines split at CRLF; nil when a CR or LF stands alone.
    static func crlfLines(_ bytes: ArraySlice<UInt8>) -> [String]? {
        var lines: [String] = []
        var start = bytes.startIndex, index = bytes.startIndex
        while index < bytes.endIndex {
            switch bytes[index] {
            case 13:
                guard index + 1 < bytes.endIndex, bytes[index + 1] == 10 else { return nil }
                lines.append(String(decoding: bytes[start..<index], as: UTF8.self))
                index += 2
                start = index
            case 10:
                return nil
            default:
                index += 1
            }
        }
        lines.append(String(decoding: bytes[start..<bytes.endIndex], as: UTF8.self))
        return lines
    }

    static func isTokenCharacter(_ character: Character) -> Bool {
        guard let ascii = character.asciiValue, ascii > 32, ascii < 127 else { return false }
        return !"()<>@,;:\\\"/[]?={}".contains(character)
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
