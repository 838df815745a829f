import HTTPHead

/// One HTTP/1.1 answer read whole (requests are sent with `Connection: close`): the status,
/// the headers and the body framed by Content-Length, chunked coding, or the end of the stream.
public struct HTTPReply: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public static let maximumBytes = 1 << 20

    public func value(of name: String) -> String? {
        ResponseHead(status: status, headers: headers).value(of: name)
    }

    /// Parses `bytes`; nil when they do not yet hold a complete answer (`ended`: no more will come,
    /// so a body without a length is complete).
    public static func parse(_ bytes: [UInt8], ended: Bool) throws(KMSFailure) -> HTTPReply? {
        guard let end = RequestHead.endOfHead(in: bytes) else {
            if ended { throw .protocolError(bytes.isEmpty ? "the connection closed without an answer" : "the answer ended inside its head") }
            return nil
        }
        let head: ResponseHead
        switch ResponseHead.parse(bytes[..<end]) {
        case .success(let parsed): head = parsed
        case .failure(let rejection): throw .protocolError(rejection.reason)
        }
        var reply = HTTPReply(status: head.status, headers: head.headers, body: [])
        let rest = Array(bytes[end...])
        if reply.value(of: "Transfer-Encoding")?.lowercased().contains("chunked") == true {
            let dechunked: [UInt8]?
            switch RequestReader.dechunked(rest, limit: maximumBytes) {
            case .success(let body): dechunked = body
            case .failure(let rejection): throw .protocolError(rejection.reason)
            }
            guard let body = dechunked else {
                if ended { throw .protocolError("the chunked body ended early") }
                return nil
            }
            reply.body = body
        } else if let lengthText = reply.value(of: "Content-Length") {
            guard let length = Int(lengthText), length >= 0, length <= maximumBytes else { throw .protocolError("Content-Length \(lengthText.prefix(20))") }
            guard rest.count >= length else {
                if ended { throw .protocolError("the body ended after \(rest.count) of \(length) bytes") }
                return nil
            }
            reply.body = Array(rest[..<length])
        } else {
            guard ended else { return nil }
            reply.body = rest
        }
        return reply
    }
}
