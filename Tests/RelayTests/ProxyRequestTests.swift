@testable import Relay
import HTTPHead
import Testing

@Suite struct ProxyRequestTests {
    private func parse(_ text: String, connectOnly: Bool = false) -> Result<ProxyRequest, ProxyRequest.Rejection> {
        ProxyRequest.parse(Array(text.utf8), connectOnly: connectOnly)
    }

    @Test func connectAndAbsoluteFormsAreRead() throws {
        let connect = try parse("CONNECT Kms.Example.com:443 HTTP/1.1\r\nHost: kms.example.com:443\r\nUser-Agent: t\r\n\r\n").get()
        #expect(connect.destination.description == "kms.example.com:443")
        #expect(connect.originForm == nil)
        let get = try parse("GET http://Example.com/a/b?c=d#frag HTTP/1.1\r\nHost: example.com\r\nProxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n").get()
        #expect(get.destination.description == "example.com:80")
        #expect(get.originForm == "/a/b?c=d")
        #expect(String(decoding: try get.originHead(), as: UTF8.self) == "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nConnection: close\r\n\r\n")
        let port = try parse("POST http://10.0.0.1:8080?x HTTP/1.0\r\n\r\n").get()
        #expect(port.destination.description == "10.0.0.1:8080")
        #expect(port.originForm == "/?x")
        #expect(String(decoding: try port.originHead(), as: UTF8.self).hasPrefix("POST /?x HTTP/1.1\r\nHost: 10.0.0.1:8080\r\n"))
        let v6 = try parse("GET http://[::ffff:10.0.0.1]/ HTTP/1.1\r\n\r\n").get()
        #expect(v6.destination.description == "10.0.0.1:80")
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400),                       // origin form: not a proxy request
        ("GET https://x.com/ HTTP/1.1\r\n\r\n", 400),                     // https goes through CONNECT
        ("GET http://user:pw@x.com/ HTTP/1.1\r\n\r\n", 400),              // userinfo
        ("CONNECT x.com HTTP/1.1\r\n\r\n", 400),                          // no port
        ("CONNECT x.com:443 HTTP/2.0\r\n\r\n", 400),
        ("CONNECT  x.com:443 HTTP/1.1\r\n\r\n", 400),                     // two spaces
        ("CONNECT x.com:443 HTTP/1.1\r\n bad: fold\r\n\r\n", 400),        // obsolete line folding
        ("CONNECT x.com:443 HTTP/1.1\r\nNo-Colon\r\n\r\n", 400),
        ("CONNECT x.com:443 HTTP/1.1\r\nBad Name: v\r\n\r\n", 400),
        ("CONNECT x.com:443 HTTP/1.1\nHost: x\r\n\r\n", 400),             // bare LF
        ("CONNECT x.com:443 HTTP/1.1\r\nX: \u{7F}\r\n\r\n", 400),        // control character
        ("CONNECT x.\u{E9}.com:443 HTTP/1.1\r\n\r\n", 400),              // not ASCII
        ("G(T http://x.com/ HTTP/1.1\r\n\r\n", 400),                      // bad method token
    ])
    func malformedHeadsAreRefused(_ head: String, _ status: Int) {
        guard case .failure(let rejection) = parse(head) else { Issue.record("parsed: \(head.debugDescription)"); return }
        #expect(rejection.status == status, "\(head.debugDescription): \(rejection.reason)")
    }

    @Test func tooManyHeadersIs431AndTheParentServesOnlyConnect() {
        let many = "CONNECT x.com:443 HTTP/1.1\r\n" + String(repeating: "X: y\r\n", count: 101) + "\r\n"
        guard case .failure(let rejection) = parse(many) else { Issue.record("parsed"); return }
        #expect(rejection.status == 431)
        guard case .failure(let onlyConnect) = parse("GET http://x.com/ HTTP/1.1\r\n\r\n", connectOnly: true) else { Issue.record("parsed"); return }
        #expect(onlyConnect.status == 405)
    }

    @Test func responseStatusIsRead() {
        #expect(HTTPResponse.status(of: Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)) == 200)
        #expect(HTTPResponse.status(of: HTTPResponse.text(status: 403, reason: "no")) == 403)
        #expect(HTTPResponse.status(of: Array("SSH-2.0\r\n\r\n".utf8)) == nil)
    }
}
