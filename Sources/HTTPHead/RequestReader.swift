/// One HTTP/1 request read off a connection as bytes arrive: the head, then a body framed by
/// Content-Length or chunked transfer coding, within limits. A value with a state and events
/// that return what to do, so that it is tested without sockets; the endpoint that owns it only
/// feeds it bytes and acts on the answer.
public struct RequestReader: Sendable {
    public enum Event: Sendable {
        /// Nothing complete yet: feed more.
        case needMore
        /// The whole request; bytes after it (a pipelined request) are not read.
        case complete(RequestHead, body: [UInt8])
        /// Answer with this status and reason, then close.
        case rejected(RequestHead.Rejection)
    }

    private enum State: Sendable {
        case head(buffer: [UInt8], searched: Int)
        case body(RequestHead, Framing, buffer: [UInt8], body: [UInt8])
        case finished
    }

    private enum Framing: Sendable {
        case length(Int)
        case chunked
    }

    public let maximumHeadBytes: Int
    public let maximumBodyBytes: Int
    private var state = State.head(buffer: [], searched: 0)

    public init(maximumHeadBytes: Int = 16 * 1024, maximumBodyBytes: Int) {
        self.maximumHeadBytes = maximumHeadBytes
        self.maximumBodyBytes = maximumBodyBytes
    }

    public mutating func receive(_ bytes: [UInt8]) -> Event {
        switch state {
        case .finished:
            return .needMore
        case .head(var buffer, let searched):
            buffer += bytes
            let view = buffer[...]
            guard let end = RequestHead.endOfHead(in: view, from: max(0, searched - 3)) else {
                if buffer.count > maximumHeadBytes { return finish(.rejected(.init(status: 431, reason: "the request head is longer than \(maximumHeadBytes) bytes"))) }
                state = .head(buffer: buffer, searched: buffer.count)
                return .needMore
            }
            guard end <= maximumHeadBytes else { return finish(.rejected(.init(status: 431, reason: "the request head is longer than \(maximumHeadBytes) bytes"))) }
            let head: RequestHead
            switch RequestHead.parse(Array(buffer[..<end])) {
            case .success(let parsed): head = parsed
            case .failure(let rejection): return finish(.rejected(rejection))
            }
            let framing: Framing
            switch Self.framing(of: head) {
            case .success(let found): framing = found
            case .failure(let rejection): return finish(.rejected(rejection))
            }
            state = .body(head, framing, buffer: [], body: [])
            return receive(Array(buffer[end...]))
        case .body(let head, let framing, var buffer, var body):
            buffer += bytes
            let event: Event
            switch framing {
            case .length(let length):
                guard length <= maximumBodyBytes else { return finish(.rejected(.init(status: 400, reason: "the body is over \(maximumBodyBytes) bytes"))) }
                guard buffer.count >= length else {
                    state = .body(head, framing, buffer: buffer, body: body)
                    return .needMore
                }
                event = .complete(head, body: Array(buffer[..<length]))
            case .chunked:
                switch Self.dechunk(&buffer, into: &body, limit: maximumBodyBytes) {
                case .needMore:
                    state = .body(head, framing, buffer: buffer, body: body)
                    return .needMore
                case .rejected(let rejection): event = .rejected(rejection)
                case .complete: event = .complete(head, body: body)
                }
            }
            return finish(event)
        }
    }

    /// The client's input ended; a request not yet complete never will be.
    public mutating func inputEnded() -> Event {
        switch state {
        case .finished: return .needMore
        case .head(let buffer, _) where buffer.isEmpty: return finish(.needMore)
        case .head, .body: return finish(.rejected(.init(status: 400, reason: "the request ended before it was complete")))
        }
    }

    private mutating func finish(_ event: Event) -> Event {
        state = .finished
        return event
    }

    /// Content-Length (one value, digits only), chunked (the only coding), or no body. Both at
    /// once is refused: two framings are how requests are smuggled past a proxy.
    private static func framing(of head: RequestHead) -> Result<Framing, RequestHead.Rejection> {
        let lengths = head.values(of: "Content-Length")
        let codings = head.values(of: "Transfer-Encoding")
        if !codings.isEmpty {
            guard lengths.isEmpty else { return .failure(.init(status: 400, reason: "both Content-Length and Transfer-Encoding")) }
            guard codings.count == 1, codings[0].lowercased() == "chunked" else {
                return .failure(.init(status: 501, reason: "transfer coding \"\(codings.joined(separator: ", ").prefix(40))\" is not supported (only chunked)"))
            }
            return .success(.chunked)
        }
        guard let first = lengths.first else { return .success(.length(0)) }
        guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.count <= 18, first.allSatisfy(\.isASCIIDigit), let length = Int(first) else {
            return .failure(.init(status: 400, reason: "Content-Length \"\(lengths.joined(separator: ", ").prefix(40))\" is not one number"))
        }
        return .success(.length(length))
    }

    private enum Dechunked { case needMore, complete, rejected(RequestHead.Rejection) }

    /// A whole chunked body from `bytes` (what follows a head): the body once the last chunk
    /// and its trailers are there, nil while more is needed (also used for answers: KMS's).
    public static func dechunked(_ bytes: [UInt8], limit: Int) -> Result<[UInt8]?, RequestHead.Rejection> {
        var buffer = bytes, body: [UInt8] = []
        switch dechunk(&buffer, into: &body, limit: limit) {
        case .needMore: return .success(nil)
        case .complete: return .success(body)
        case .rejected(let rejection): return .failure(rejection)
        }
    }

    /// Moves whole chunks from `buffer` into `body`; complete after the last chunk and its
    /// trailer section (trailer fields are read past, not kept).
    private static func dechunk(_ buffer: inout [UInt8], into body: inout [UInt8], limit: Int) -> Dechunked {
        while true {
            guard let lineEnd = crlf(in: buffer, from: 0) else {
                return buffer.count > 1024 ? .rejected(.init(status: 400, reason: "a chunk size line over 1024 bytes")) : .needMore
            }
            let line = buffer[..<lineEnd]
            let digits = line.prefix { $0 != UInt8(ascii: ";") }
            guard !digits.isEmpty, digits.count <= 15, digits.allSatisfy(isHexDigit), let size = Int(String(decoding: digits, as: UTF8.self), radix: 16), size >= 0 else {
                return .rejected(.init(status: 400, reason: "malformed chunk size \"\(String(decoding: line.prefix(40), as: UTF8.self))\""))
            }
            if size == 0 {
                // The trailer section: lines until an empty one.
                var start = lineEnd + 2
                while let end = crlf(in: buffer, from: start) {
                    if end == start { return .complete }
                    start = end + 2
                }
                return buffer.count > 16 * 1024 ? .rejected(.init(status: 400, reason: "a trailer section over 16 KiB")) : .needMore
            }
            guard body.count + size <= limit else { return .rejected(.init(status: 400, reason: "the body is over \(limit) bytes")) }
            let dataStart = lineEnd + 2
            guard buffer.count >= dataStart + size + 2 else { return .needMore }
            guard buffer[dataStart + size] == 13, buffer[dataStart + size + 1] == 10 else {
                return .rejected(.init(status: 400, reason: "a chunk is not followed by CRLF"))
            }
            body += buffer[dataStart..<(dataStart + size)]
            buffer.removeFirst(dataStart + size + 2)
        }
    }

    /// Int(_:radix:) also takes a sign; a chunk size is hex digits only.
    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...70).contains(byte) || (97...102).contains(byte)
    }

    private static func crlf(in bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == 13 && bytes[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
