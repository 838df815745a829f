import CBORCoding
import DocumentReading
import Foundation
import Logging
import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
@testable import NSM
import Testing
import TestSupport

/// An NSM stand-in: answers attestation with a document that echoes the request's fields
/// (as CBOR), or fails as told.
struct FakeNSM: NSMCalling {
    var failure: Error?
    /// How long the answer takes (a real NSM takes milliseconds; the answer then arrives after
    /// the client's end of input has).
    var delay: TimeAmount = .zero

    func call(_ request: NSMRequest, on eventLoop: EventLoop) -> EventLoopFuture<NSMResponse> {
        let answer: @Sendable () throws -> NSMResponse = { [failure] in
            if let failure { throw failure }
            return .attestation(document: request.cbor.encoded())
        }
        guard delay > .zero else { return eventLoop.makeCompletedFuture(Result(catching: answer)) }
        return eventLoop.scheduleTask(in: delay, answer).futureResult
    }
}

@Suite(.serialized) struct AttestationEndpointTests {
    private func endpoint(_ nsm: NSMCalling) throws -> (AttestationEndpoint, Int) {
        let endpoint = AttestationEndpoint(nsm: nsm, port: 0, logger: Logger(label: "test"))
        try endpoint.start()
        return (endpoint, try #require(endpoint.boundPort))
    }

    /// Sends a raw HTTP request; returns the status code, the Content-Type and the body.
    private func exchange(_ port: Int, _ request: String) throws -> (status: Int, type: String, body: [UInt8]) {
        let socket = try BlockingSocket.connect(port: UInt16(port))
        socket.setReceiveTimeout(seconds: 10)
        try socket.writeAll(Array(request.utf8))
        let response = try socket.readToEnd()
        guard let split = response.firstRange(of: Array("\r\n\r\n".utf8)) else { return (0, "", response) }
        let head = String(decoding: response[..<split.lowerBound], as: UTF8.self)
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        let type = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-type:") }.map { String($0.dropFirst(13)).trimmingCharacters(in: .whitespaces) } ?? ""
        return (status, type, Array(response[split.upperBound...]))
    }

    private func post(_ port: Int, _ body: String) throws -> (status: Int, type: String, body: [UInt8]) {
        try exchange(port, "POST /v1/attestation HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
    }

    @Test func theDocumentComesBackAsCBORWithTheFieldsDecoded() throws {
        let (endpoint, port) = try endpoint(FakeNSM())
        defer { endpoint.stop() }
        let pem = "-----BEGIN PUBLIC KEY-----\nAAEC\nAwQ=\n-----END PUBLIC KEY-----\n"
        let answer = try post(port, #"{"nonce": "bm9uY2U=", "user_data": "aGVsbG8", "public_key": "\#(pem.replacingOccurrences(of: "\n", with: "\\n"))"}"#)
        #expect(answer.status == 200 && answer.type == "application/cbor")
        let echoed = try CBOR.decode(answer.body)
        #expect(echoed["Attestation"]?["nonce"] == .bytes(Array("nonce".utf8)))
        #expect(echoed["Attestation"]?["user_data"] == .bytes(Array("hello".utf8)))
        #expect(echoed["Attestation"]?["public_key"] == .bytes([0, 1, 2, 3, 4]))
        // An empty body asks for a document without fields.
        let empty = try post(port, "")
        let emptyDocument = try CBOR.decode(empty.body)
        #expect(empty.status == 200 && emptyDocument["Attestation"]?["nonce"] == .null)
    }

    @Test(arguments: [
        ("{", "not JSON"),
        ("[1]", "expected an object"),
        (#"{"nonce": 5}"#, "nonce is a JSON integer"),
        (#"{"nonce": "%%%"}"#, "nonce: not base64"),
        (#"{"nounce": "AA=="}"#, "unknown key \"nounce\""),
        (#"{"public_key": "-----BEGIN PUBLIC KEY-----\nAAEC"}"#, "public_key: a PEM block needs"),
    ])
    func badInputGets400WithAOneLineReason(_ body: String, _ reason: String) throws {
        let (endpoint, port) = try endpoint(FakeNSM())
        defer { endpoint.stop() }
        let answer = try post(port, body)
        let text = String(decoding: answer.body, as: UTF8.self)
        #expect(answer.status == 400 && text.contains(reason) && text.filter { $0 == "\n" }.count == 1, "\(answer.status) \(text)")
    }

    /// The TLS binding's user_data names the key of an attested ingress; if the endpoint made
    /// such documents, a parent reaching it through an ingress with "attestation": true could
    /// get one for its own key with a client's nonce.
    @Test func userDataWithTheTLSBindingsPrefixIsRefused() throws {
        let (endpoint, port) = try endpoint(FakeNSM())
        defer { endpoint.stop() }
        let forged = Data(TLSBinding.userData(publicKeySHA256: [UInt8](repeating: 9, count: 32))).base64EncodedString()
        let answer = try post(port, #"{"nonce": "AAEC", "user_data": "\#(forged)"}"#)
        let text = String(decoding: answer.body, as: UTF8.self)
        #expect(answer.status == 403 && text.contains("that prefix is the TLS binding's"), "\(answer.status) \(text)")
        // The prefix elsewhere in user_data is the app's business.
        let inside = Data([0] + TLSBinding.userDataPrefix).base64EncodedString()
        #expect(try post(port, #"{"user_data": "\#(inside)"}"#).status == 200)
    }

    @Test func fieldsAndBodiesOverTheirBoundsAre400() throws {
        let (endpoint, port) = try endpoint(FakeNSM())
        defer { endpoint.stop() }
        let big = Data(repeating: 7, count: 1025).base64EncodedString()
        let field = try post(port, #"{"user_data": "\#(big)"}"#)
        #expect(field.status == 400 && String(decoding: field.body, as: UTF8.self).contains("user_data is 1025 bytes; the NSM takes at most 1024"))
        let body = try post(port, #"{"user_data": "\#(String(repeating: "A", count: 20_000))"}"#)
        #expect(body.status == 400)
    }

    /// busybox nc and many scripts shut their write side once the request is sent; HTTP allows
    /// it, and the document (which takes the NSM a moment) must still come back.
    @Test func aClientThatHalfClosesAfterItsRequestGetsTheDocument() throws {
        let endpoint = AttestationEndpoint(nsm: FakeNSM(delay: .milliseconds(200)), port: 0, logger: Logger(label: "test"))
        try endpoint.start()
        defer { endpoint.stop() }
        let port = try #require(endpoint.boundPort)
        for body in [#"{"nonce": "AAEC"}"#, ""] {
            let socket = try BlockingSocket.connect(port: UInt16(port))
            socket.setReceiveTimeout(seconds: 10)
            try socket.writeAll(Array("POST /v1/attestation HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
            socket.shutdownWrite()
            let response = try socket.readToEnd()
            let text = String(decoding: response, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n") && text.contains("application/cbor"), "\(text)")
            let split = try #require(response.firstRange(of: Array("\r\n\r\n".utf8)))
            let document = try CBOR.decode(Array(response[split.upperBound...]))
            #expect(document["Attestation"]?["nonce"] == (body.isEmpty ? .null : .bytes([0, 1, 2])))
        }
        // A request cut short by the end of input can never complete: a 400 at once, no NSM call.
        let cut = try BlockingSocket.connect(port: UInt16(port))
        cut.setReceiveTimeout(seconds: 10)
        try cut.writeAll(Array("POST /v1/attestation HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"nonce\"".utf8))
        cut.shutdownWrite()
        let start = ContinuousClock.now
        let answer = String(decoding: try cut.readToEnd(), as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(answer)")
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    /// The warning names the status once, under the endpoint's own label.
    @Test func aDeviceFailureIsLoggedOnceWithItsStatus() throws {
        let logs = LogCapture()
        let endpoint = AttestationEndpoint(nsm: FakeNSM(failure: NSMDevice.Failure.absent(path: "/dev/nsm"), delay: .milliseconds(50)),
                                           port: 0, logger: logs.logger)
        try endpoint.start()
        defer { endpoint.stop() }
        #expect(try post(try #require(endpoint.boundPort), "{}").status == 503)
        #expect(logs.messages(at: .warning) == ["503 Service Unavailable: no NSM device at /dev/nsm"], "\(logs.messages(at: .warning))")
    }

    @Test func otherPathsAndMethodsAreRefused() throws {
        let (endpoint, port) = try endpoint(FakeNSM())
        defer { endpoint.stop() }
        #expect(try exchange(port, "GET /v1/attestation HTTP/1.1\r\nHost: x\r\n\r\n").status == 405)
        #expect(try exchange(port, "POST /v2/other HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").status == 404)
        #expect(try exchange(port, "NOT HTTP AT ALL\r\n\r\n").status == 400)
    }

    @Test(arguments: [
        (NSMDevice.Failure.absent(path: "/dev/nsm"), 503, "no NSM device at /dev/nsm"),
        (NSMDevice.Failure.notAnNSM(path: "/dev/null", errno: ENOTTY), 503, "/dev/null is not an NSM device"),
        (NSMDevice.Failure.nsm("InvalidArgument"), 502, "the NSM answered InvalidArgument"),
        (NSMDevice.Failure.timedOut(milliseconds: 5000), 504, "did not answer within 5000 ms"),
    ] as [(NSMDevice.Failure, Int, String)])
    func deviceFailuresMapToTheirStatus(_ failure: NSMDevice.Failure, _ status: Int, _ reason: String) throws {
        let (endpoint, port) = try endpoint(FakeNSM(failure: failure))
        defer { endpoint.stop() }
        let answer = try post(port, "{}")
        #expect(answer.status == status && String(decoding: answer.body, as: UTF8.self).contains(reason), "\(answer)")
    }

    /// The real device client against paths that are not an NSM.
    @Test func theDeviceClientNamesWhatIsWrongWithThePath() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        for (path, expected) in [("/nonexistent/nsm", NSMDevice.Failure.absent(path: "/nonexistent/nsm")),
                                 ("/dev/null", NSMDevice.Failure.notAnNSM(path: "/dev/null", errno: ENOTTY))] {
            let device = NSMDevice(path: path)
            #expect(throws: expected) { try device.call(.getRandom, on: group.next()).wait() }
        }
    }
}

@Suite struct NSMDeviceTests {
    /// A device that hangs: the caller is answered within its timeout, and while the call is
    /// overdue every new one fails at once instead of queueing behind it; once the device
    /// answers again, so does the client.
    @Test func aDeviceThatNeverAnswersBlocksNobody() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let hang = NIOLockedValueBox(true)
        let device = NSMDevice(path: "/stand-in", timeout: .milliseconds(200)) { _, _ in
            while hang.withLockedValue({ $0 }) { usleep(10_000) }
            return .success(.getRandom(random: [1]))
        }
        let start = ContinuousClock.now
        #expect(throws: NSMDevice.Failure.timedOut(milliseconds: 200)) { try device.call(.getRandom, on: group.next()).wait() }
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(throws: NSMDevice.Failure.deviceHung) { try device.call(.getRandom, on: group.next()).wait() }
        hang.withLockedValue { $0 = false }
        #expect(eventually { (try? device.call(.getRandom, on: group.next()).wait()) == .getRandom(random: [1]) })
    }
}
