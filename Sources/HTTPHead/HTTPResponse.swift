/// The responses enclave-init writes itself: a status line, a few fields, a body with its
/// length, and the connection closes after it.
public enum HTTPResponse {
    public static func phrase(_ status: Int) -> String {
        let phrases: [Int: String] = [200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
                                      411: "Length Required", 413: "Content Too Large", 431: "Request Header Fields Too Large",
                                      501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"]
        return phrases[status] ?? "Error"
    }

    /// A response with `body`, then `Connection: close`. A field that HeadWriter refuses (a
    /// value passed on from elsewhere with a CR or LF in it) turns the whole answer into a 502
    /// that names the field: nothing unsafe is written, and nothing is silently dropped.
    public static func bytes(status: Int, body: [UInt8], contentType: String, extra: [(String, String)] = []) -> [UInt8] {
        func head(_ status: Int, _ bodyCount: Int, _ contentType: String, _ extra: [(String, String)]) throws(HeadWriter.UnsafeField) -> [UInt8] {
            let fields = [("Content-Type", contentType), ("Content-Length", String(bodyCount))] + extra + [("Connection", "close")]
            return try HeadWriter.response(status: status, phrase: phrase(status), headers: fields.map { (name: $0.0, value: $0.1) })
        }
        do {
            return try head(status, body.count, contentType, extra) + body
        } catch {
            let reason = Array("a field of the answer could not be written: \(error)\n".utf8)
            // Only our own constant fields are left, which HeadWriter accepts.
            return ((try? head(502, reason.count, "text/plain; charset=utf-8", [])) ?? []) + reason
        }
    }

    /// A short response with a one-line reason (CR and LF in it become spaces).
    public static func text(status: Int, reason: String, extra: [(String, String)] = []) -> [UInt8] {
        // By scalar: "\r\n" is one Character, so a Character-wise map would let it through.
        let flattened = reason.unicodeScalars.map { $0 == "\r" || $0 == "\n" ? " " : Character($0) }
        let body = String(flattened) + "\n"
        return bytes(status: status, body: Array(body.utf8), contentType: "text/plain; charset=utf-8", extra: extra)
    }

    /// The answer to a CONNECT that went through.
    public static let established = (try? HeadWriter.response(status: 200, phrase: "Connection established", headers: [])) ?? []

    /// The status code of a response head ("HTTP/1.1 200 ..."), if it has one.
    public static func status(of head: [UInt8]) -> Int? {
        guard head.count >= 12, head.starts(with: Array("HTTP/1.".utf8)) else { return nil }
        return Int(String(decoding: head[9..<12], as: UTF8.self))
    }
}
