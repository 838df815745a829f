import HTTPHead
import Testing

/// The request reader as a value: bytes in, one event out, no sockets. Each framing, each limit
/// and each way a request can be malformed, fed whole and fed a byte at a time.
@Suite struct RequestReaderTests {
    private func feed(_ text: String, bytewise: Bool = false, maximumBody: Int = 1024) -> RequestReader.Event {
        var reader = RequestReader(maximumHeadBytes: 512, maximumBodyBytes: maximumBody)
        let bytes = Array(text.utf8)
        guard bytewise else { return reader.receive(bytes) }
        for byte in bytes {
            let event = reader.receive([byte])
            if case .needMore = event { continue }
            return event
        }
        return .needMore
    }

    private func body(_ event: RequestReader.Event) -> String? {
        guard case .complete(_, let body) = event else { return nil }
        return String(decoding: body, as: UTF8.self)
    }

    private func status(_ event: RequestReader.Event) -> Int? {
        guard case .rejected(let rejection) = event else { return nil }
        return rejection.status
    }

    @Test(arguments: [false, true]) func aRequestWithoutABodyCompletesAtTheEmptyLine(bytewise: Bool) {
        let event = feed("GET /attestation?nonce=ab HTTP/1.1\r\nHost: x\r\n\r\n", bytewise: bytewise)
        guard case .complete(let head, let body) = event else { Issue.record("\(event)"); return }
        #expect(head.method == "GET")
        #expect(head.path == "/attestation")
        #expect(head.values(of: "host") == ["x"])
        #expect(body.isEmpty)
    }

    @Test(arguments: [false, true]) func contentLengthFramesTheBody(bytewise: Bool) {
        #expect(body(feed("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", bytewise: bytewise)) == "hello")
    }

    @Test func bytesAfterTheBodyAreNotPartOfIt() {
        #expect(body(feed("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.1\r\n\r\n")) == "hi")
    }

    @Test(arguments: [false, true]) func chunkedBodiesAreJoinedAndTrailersSkipped(bytewise: Bool) {
        let request = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: y\r\n\r\n"
        #expect(body(feed(request, bytewise: bytewise)) == "hello world")
    }

    @Test func aChunkedBodyIsIncompleteUntilTheLastChunkAndItsEmptyLine() {
        #expect(body(feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n")) == nil)
        #expect(body(feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")) == "hi")
    }

    @Test(arguments: [
        ("POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", 400),
        ("POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\nab", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n401\r\n", 400),
        ("GET / HTTP/2.0\r\n\r\n", 400),
        ("GET /\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHo st: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: \u{7f}\r\n\r\n", 400),
    ]) func malformedOrSmuggledRequestsAreRejected(request: String, expected: Int) {
        #expect(status(feed(request)) == expected)
        #expect(status(feed(request, bytewise: true)) == expected)
    }

    @Test func equalDuplicateContentLengthsAreOneLength() {
        #expect(body(feed("POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc")) == "abc")
    }

    @Test func aHeadOverTheLimitIsRejectedWithoutWaitingForItsEnd() {
        let long = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 600)
        #expect(status(feed(long)) == 431)
    }

    @Test func tooManyHeaderFieldsAreRejected() {
        var reader = RequestReader(maximumHeadBytes: 64 * 1024, maximumBodyBytes: 0)
        let fields = (0...RequestHead.maximumHeaderCount).map { "X-\($0): v\r\n" }.joined()
        #expect(status(reader.receive(Array("GET / HTTP/1.1\r\n\(fields)\r\n".utf8))) == 431)
    }

    @Test func inputEndingMidRequestIsAnErrorAndOnAnEmptyConnectionIsNot() {
        var partial = RequestReader(maximumBodyBytes: 10)
        _ = partial.receive(Array("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhe".utf8))
        #expect(status(partial.inputEnded()) == 400)

        var empty = RequestReader(maximumBodyBytes: 10)
        guard case .needMore = empty.inputEnded() else { Issue.record("an idle connection that closes is not an error"); return }
    }

    @Test func afterOneEventTheReaderTakesNothingMore() {
        var reader = RequestReader(maximumBodyBytes: 10)
        guard case .complete = reader.receive(Array("GET / HTTP/1.1\r\n\r\n".utf8)) else { Issue.record("not complete"); return }
        guard case .needMore = reader.receive(Array("GET / HTTP/1.1\r\n\r\n".utf8)) else { Issue.record("read a second request"); return }
    }
}

@Suite struct HTTPResponseTests {
    @Test func aTextResponseCarriesItsLengthAndCloses() {
        let text = String(decoding: HTTPResponse.text(status: 403, reason: "denied\r\nInjected: yes"), as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        #expect(text.contains("Content-Length: 22\r\n"))
        #expect(text.contains("Connection: close\r\n\r\n"))
        #expect(!text.contains("\r\nInjected"))
        #expect(HTTPResponse.status(of: Array(text.utf8)) == 403)
    }

    @Test func statusOfSomethingThatIsNotAResponseIsNil() {
        #expect(HTTPResponse.status(of: Array("SSH-2.0-OpenSSH\r\n".utf8)) == nil)
        #expect(HTTPResponse.status(of: Array("HTTP/1.1 2".utf8)) == nil)
    }
}
