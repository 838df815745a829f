import Policy

/// A proxy request head, parsed strictly: `CONNECT host:port HTTP/1.1`, or an absolute-form
/// plain HTTP request (`GET http://host[:port]/path HTTP/1.1`) that is forwarded the same way.
/// Written by hand because the proxy needs the raw head (to check it, rewrite it, and relay
/// every byte after it untouched), not a decoded HTTP stream.
struct ProxyRequest {
    var method: String
    var destination: Destination
    /// For plain HTTP: the path and query, sent to the origin server in origin form.
    var originForm: String?
    var headers: [(name: String, value: String)]

    static let maximumHeadBytes = 16 * 1024
    static let maximumHeaderCount = 100

    struct Rejection: Error, Equatable {
        var status: Int
        var reason: String
    }

    /// `head` ends with the empty line. Errors are 400 (malformed) or 431 (too many headers).
    static func parse(_ head: [UInt8], connectOnly: Bool = false) -> Result<ProxyRequest, Rejection> {
        func bad(_ reason: String) -> Result<ProxyRequest, Rejection> { .failure(Rejection(status: 400, reason: reason)) }
        // Heads are ASCII; a byte outside printable ASCII, tab, CR and LF is refused outright.
        guard head.allSatisfy({ $0 == 9 || $0 == 10 || $0 == 13 || (32...126).contains($0) }) else {
            return bad("the request head has bytes outside printable ASCII")
        }
        guard let lines = crlfLines(head.dropLast(4)), let requestLine = lines.first else { return bad("a bare CR or LF in the request head") }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isTokenCharacter) else {
            return bad("malformed request line \"\(requestLine.prefix(200))\"")
        }
        guard parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0" else { return bad("unsupported protocol \"\(parts[2].prefix(20))\"") }
        let method = String(parts[0]), target = String(parts[1])

        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard headers.count < maximumHeaderCount else { return .failure(Rejection(status: 431, reason: "more than \(maximumHeaderCount) header fields")) }
            guard let colon = line.firstIndex(of: ":"), line.first != " ", line.first != "\t" else {
                return bad("malformed header line \"\(line.prefix(100))\"")
            }
            let name = line[..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenCharacter) else { return bad("malformed header name \"\(name.prefix(100))\"") }
            let value = line[line.index(after: colon)...].trimmingSpaces
            headers.append((String(name), String(value)))
        }

        if method == "CONNECT" {
            switch Destination.parse(authority: target) {
            case .success(let destination): return .success(ProxyRequest(method: method, destination: destination, originForm: nil, headers: headers))
            case .failure(let problem): return bad("CONNECT target: \(problem)")
            }
        }
        if connectOnly { return .failure(Rejection(status: 405, reason: "only CONNECT is served here")) }
        return absolute(method: method, target: target, headers: headers)
    }

    private static func absolute(method: String, target: String, headers: [(name: String, value: String)]) -> Result<ProxyRequest, Rejection> {
        let lower = target.lowercased()
        guard lower.hasPrefix("http://") else {
            if lower.hasPrefix("https://") { return .failure(Rejection(status: 400, reason: "https URLs go through CONNECT (set https_proxy)")) }
            return .failure(Rejection(status: 400, reason: "a proxy request needs an absolute http:// URL or CONNECT, not \"\(target.prefix(100))\""))
        }
        let rest = target.dropFirst("http://".count)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = String(rest[..<authorityEnd])
        var origin = String(rest[authorityEnd...])
        if let fragment = origin.firstIndex(of: "#") { origin = String(origin[..<fragment]) }
        if origin.isEmpty || origin.hasPrefix("?") { origin = "/" + origin }
        guard !authority.contains("@") else { return .failure(Rejection(status: 400, reason: "userinfo (\"@\") is not allowed in a proxy URL")) }
        let withPort: String
        if authority.hasPrefix("[") {
            withPort = authority.hasSuffix("]") ? authority + ":80" : authority
        } else {
            withPort = authority.contains(":") ? authority : authority + ":80"
        }
        switch Destination.parse(authority: withPort) {
        case .success(let destination): return .success(ProxyRequest(method: method, destination: destination, originForm: origin, headers: headers))
        case .failure(let problem): return .failure(Rejection(status: 400, reason: "URL host: \(problem)"))
        }
    }

    /// The head sent to the origin server for a plain HTTP request: origin form, the Host the
    /// policy approved, hop-by-hop and proxy headers dropped, and one request per connection
    /// (`Connection: close`), so a second request cannot reuse an approved connection.
    func originHead() -> [UInt8] {
        let hopByHop: Set<String> = ["host", "connection", "proxy-connection", "keep-alive", "proxy-authorization", "te", "upgrade"]
        var text = "\(method) \(originForm ?? "/") HTTP/1.1\r\n"
        let hostValue = destination.port == 80 ? (destination.description.hasSuffix(":80") ? String(destination.description.dropLast(3)) : destination.description) : destination.description
        text += "Host: \(hostValue)\r\n"
        for (name, value) in headers where !hopByHop.contains(name.lowercased()) { text += "\(name): \(value)\r\n" }
        text += "Connection: close\r\n\r\n"
        return Array(text.utf8)
    }

    /// What the enclave half sends to the parent half: the normalised destination.
    static func connectHead(to destination: Destination) -> [UInt8] {
        Array("CONNECT \(destination) HTTP/1.1\r\nHost: \(destination)\r\n\r\n".utf8)
    }

    /// Lines split at CRLF; nil when a CR or LF stands alone.
    private static func crlfLines(_ bytes: ArraySlice<UInt8>) -> [String]? {
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

    private static func isTokenCharacter(_ character: Character) -> Bool {
        guard let ascii = character.asciiValue, ascii > 32, ascii < 127 else { return false }
        return !"()<>@,;:\\\"/[]?={}".contains(character)
    }
}

/// A short response with a one-line reason, then the connection closes.
enum ProxyResponse {
    static func text(status: Int, reason: String) -> [UInt8] {
        let phrase: [Int: String] = [200: "Connection established", 400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed",
                                     431: "Request Header Fields Too Large", 502: "Bad Gateway", 504: "Gateway Timeout"]
        let body = String(reason.map { $0 == "\r" || $0 == "\n" ? " " : $0 }) + "\n"
        return Array("HTTP/1.1 \(status) \(phrase[status] ?? "Error")\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8)
    }

    static let established = Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)

    /// The status code of a response head ("HTTP/1.1 200 ..."), if it has one.
    static func status(of head: [UInt8]) -> Int? {
        guard head.count >= 12, head.starts(with: Array("HTTP/1.".utf8)) else { return nil }
        return Int(String(decoding: head[9..<12], as: UTF8.self))
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
