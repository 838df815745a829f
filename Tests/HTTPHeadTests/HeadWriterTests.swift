import HTTPHead
import Testing

/// The one head writer: what it writes, and that no value can carry a line break or another
/// control character into a head (the session token a parent served with CR LF in it).
@Suite struct HeadWriterTests {
    @Test func aRequestHeadIsWrittenFieldByField() throws {
        let head = try HeadWriter.request(method: "POST", target: "/", headers: [("Host", "kms.us-east-1.amazonaws.com"), ("X-Amz-Target", "TrentService.Decrypt")])
        #expect(String(decoding: head, as: UTF8.self) == "POST / HTTP/1.1\r\nHost: kms.us-east-1.amazonaws.com\r\nX-Amz-Target: TrentService.Decrypt\r\n\r\n")
        // What it writes, the strict reader takes back unchanged.
        let parsed = try RequestHead.parse(head).get()
        #expect(parsed.method == "POST" && parsed.values(of: "x-amz-target") == ["TrentService.Decrypt"])
    }

    @Test(arguments: ["t\r\nX-Amz-Target: TrentService.Verify", "t\nHost: evil", "t\r", "a\u{0}b", "a\u{7F}", "caf\u{E9}", "\u{1B}[2J"])
    func aValueWithAControlCharacterIsRefusedByName(_ value: String) {
        #expect(throws: HeadWriter.UnsafeField.self) {
            try HeadWriter.request(method: "POST", target: "/", headers: [("Host", "h"), ("X-Amz-Security-Token", value)])
        }
        do {
            _ = try HeadWriter.request(method: "POST", target: "/", headers: [("X-Amz-Security-Token", value)])
        } catch {
            #expect(error.field == "X-Amz-Security-Token")
            #expect(!"\(error)".contains(value), "the value is never in the error: it may be a secret")
        }
    }

    @Test func theStartLineAndNamesAreCheckedToo() {
        #expect(throws: HeadWriter.UnsafeField(field: "request target", reason: "empty, or has a space, a control character or a byte outside ASCII")) {
            try HeadWriter.request(method: "GET", target: "/ HTTP/1.1\r\nHost: x\r\n\r\nGET /", headers: [])
        }
        #expect(throws: HeadWriter.UnsafeField.self) { try HeadWriter.request(method: "GE T", target: "/", headers: []) }
        #expect(throws: HeadWriter.UnsafeField.self) { try HeadWriter.request(method: "GET", target: "/", headers: [("Bad\r\nName", "v")]) }
        #expect(throws: HeadWriter.UnsafeField.self) { try HeadWriter.response(status: 200, phrase: "OK\r\nX: y", headers: []) }
        #expect(throws: HeadWriter.UnsafeField.self) { try HeadWriter.response(status: 20, phrase: "OK", headers: []) }
        // Tabs and spaces inside a value are fine.
        #expect(throws: Never.self) { try HeadWriter.request(method: "GET", target: "/", headers: [("Accept", "a,\tb c")]) }
    }

    /// A response whose passed-on field is unsafe becomes a 502 naming it; the field never
    /// reaches the wire.
    @Test func aResponseWithAnUnsafeFieldIsA502() {
        let ok = String(decoding: HTTPResponse.bytes(status: 200, body: Array("{}".utf8), contentType: "application/json", extra: [("X-Request", "1")]), as: UTF8.self)
        #expect(ok == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-Request: 1\r\nConnection: close\r\n\r\n{}")
        let bad = String(decoding: HTTPResponse.bytes(status: 200, body: Array("{}".utf8), contentType: "application/json",
                                                      extra: [("X-Request", "1\r\nSet-Cookie: stolen=1")]), as: UTF8.self)
        #expect(bad.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(bad)")
        #expect(bad.contains("X-Request") && !bad.contains("Set-Cookie") && !bad.contains("{}"), "\(bad)")
        #expect(String(decoding: HTTPResponse.established, as: UTF8.self) == "HTTP/1.1 200 Connection established\r\n\r\n")
    }
}
