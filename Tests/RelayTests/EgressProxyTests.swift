import BootConfig
import Foundation
import Logging
import NIOCore
@testable import Relay
import Testing
import TestSupport
import Policy

/// Both halves of the egress proxy in this process over loopback TCP (the sandbox test puts
/// them on emulated vsock around a real curl): the enclave half checks and asks the parent
/// half with CONNECT; the parent half checks again, resolves, checks every address, dials.
@Suite(.serialized) struct EgressProxyTests {
    private func rules(_ texts: [String]) throws -> [EgressRule] { try texts.map { try EgressRule.parse($0).get() } }

    /// Parent and enclave halves; `parentPort` overrides where the enclave half dials.
    private func halves(allow: [String], deny: [String] = [], parentPolicy: (allow: [String], deny: [String])? = nil,
                        parentPort: UInt16? = nil, parentPath: String? = nil,
                        logger: Logger = Logger(label: "test")) throws -> (enclave: RelayService, parent: RelayService, port: UInt16) {
        let enclavePolicy = EgressPolicy(allow: try rules(allow), deny: try rules(deny))
        let onParent = parentPolicy.map { EgressPolicy(allow: try! rules($0.allow), deny: try! rules($0.deny)) } ?? enclavePolicy
        let parent = try RelayService.started(routes: [RelayRoute(name: "egress", listen: .tcp(host: "127.0.0.1", port: 0),
                                                          target: .egress(.parent(policy: onParent, family: .any)), connectTimeout: .seconds(2))],
                                      emulation: nil, logger: logger, threads: 1)
        let boundParent = UInt16(try #require(parent.listeners[0].boundAddress?.port))
        let enclave = try RelayService.started(routes: [RelayRoute(name: "egress", listen: .tcp(host: "127.0.0.1", port: 0),
                                                           target: .egress(.enclave(policy: enclavePolicy,
                                                                                   parent: parentPath.map { .unix(path: $0) } ?? .tcp(host: "127.0.0.1", port: parentPort ?? boundParent))),
                                                           connectTimeout: .seconds(2))],
                                       emulation: nil, logger: logger, threads: 1)
        return (enclave, parent, UInt16(try #require(enclave.listeners[0].boundAddress?.port)))
    }

    private func ask(_ port: UInt16, _ request: String) throws -> String {
        let client = try BlockingSocket.connect(port: port)
        try client.writeAll(Array(request.utf8))
        client.shutdownWrite()
        return String(decoding: try client.readToEnd(), as: UTF8.self)
    }

    @Test func connectReachesAnAllowedNameAndRelaysBothWays() throws {
        let (listener, serverPort) = try BlockingSocket.listen()
        // "localhost" resolves to 127.0.0.1 (and maybe ::1): loopback must be allowed by address.
        let (enclave, parent, port) = try halves(allow: ["localhost", "127.0.0.1"])
        defer { enclave.stop(drain: .zero); parent.stop(drain: .zero) }
        let client = try BlockingSocket.connect(port: port)
        try client.writeAll(Array("CONNECT LocalHost.:\(serverPort) HTTP/1.1\r\nHost: localhost\r\n\r\nearly bytes".utf8))
        let server = try listener.accept()
        #expect(String(decoding: try server.read(upTo: 11), as: UTF8.self) == "early bytes")
        let established = "HTTP/1.1 200 Connection established\r\n\r\n"
        #expect(String(decoding: try client.read(upTo: established.utf8.count), as: UTF8.self) == established)
        try server.writeAll(Array("from the server".utf8))
        server.shutdownWrite()
        #expect(String(decoding: try client.readToEnd(), as: UTF8.self) == "from the server")
        #expect(enclave.listeners[0].counters.snapshot.allowed == 1)
        #expect(parent.listeners[0].counters.snapshot.allowed == 1)
    }

    @Test func aPlainHTTPRequestIsRewrittenToOriginFormWithOneRequestPerConnection() throws {
        let (listener, serverPort) = try BlockingSocket.listen()
        let (enclave, parent, port) = try halves(allow: ["127.0.0.1"])
        defer { enclave.stop(drain: .zero); parent.stop(drain: .zero) }
        let client = try BlockingSocket.connect(port: port)
        try client.writeAll(Array("POST http://0x7f.1:\(serverPort)/submit?x=1 HTTP/1.1\r\nHost: wrong\r\nProxy-Connection: keep-alive\r\nContent-Length: 4\r\n\r\nbody".utf8))
        client.shutdownWrite()
        let server = try listener.accept()
        let received = String(decoding: try server.readToEnd(), as: UTF8.self)
        #expect(received == "POST /submit?x=1 HTTP/1.1\r\nHost: 127.0.0.1:\(serverPort)\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody")
        try server.writeAll(Array("HTTP/1.1 204 No Content\r\n\r\n".utf8))
        server.shutdownWrite()
        #expect(String(decoding: try client.readToEnd(), as: UTF8.self) == "HTTP/1.1 204 No Content\r\n\r\n")
    }

    @Test func refusalsSayWhyAndNeverReachTheParentWhenTheEnclaveRefuses() throws {
        let capture = LogCapture()
        let (enclave, parent, port) = try halves(allow: ["**.example.com", "localhost"], deny: ["auth.example.com"], logger: capture.logger)
        defer { enclave.stop(drain: .zero); parent.stop(drain: .zero) }
        let denied = try ask(port, "CONNECT auth.example.com:443 HTTP/1.1\r\n\r\n")
        #expect(denied.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        #expect(denied.hasSuffix("\r\n\r\negress policy: auth.example.com:443 is denied by \"auth.example.com\"\n"))
        let unmatched = try ask(port, "CONNECT other.org:443 HTTP/1.1\r\n\r\n")
        #expect(unmatched.hasSuffix("egress policy: no allow rule matches other.org:443\n"))
        let bypass = try ask(port, "GET http://2130706433/ HTTP/1.1\r\n\r\n")
        #expect(bypass.hasSuffix("egress policy: no allow rule matches 127.0.0.1:80\n"))
        #expect(parent.listeners[0].counters.snapshot.accepted == 0)
        // Allowed by name in both halves, but "localhost" is loopback: the parent refuses.
        let loopback = try ask(port, "CONNECT localhost:9 HTTP/1.1\r\n\r\n")
        #expect(loopback.hasPrefix("HTTP/1.1 403 Forbidden\r\n"), "\(loopback)")
        #expect(loopback.contains("egress policy (parent): localhost:9 resolves to"), "\(loopback)")
        #expect(loopback.contains("a loopback address"))
        #expect(enclave.listeners[0].counters.snapshot.denied == 3)
        #expect(enclave.listeners[0].counters.snapshot.failed == 1) // the parent's refusal, passed on
        #expect(parent.listeners[0].counters.snapshot.denied == 1)
        #expect(capture.messages(at: .info).contains { $0.contains("egress: refused (403): egress policy: auth.example.com:443 is denied") })
    }

    @Test func malformedOversizeAndUnreachableAreAnsweredToo() throws {
        let (probe, deadPort) = try BlockingSocket.listen()
        _ = consume probe
        let (enclave, parent, port) = try halves(allow: ["**"], parentPort: deadPort)
        defer { enclave.stop(drain: .zero); parent.stop(drain: .zero) }
        #expect(try ask(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(try ask(port, "CONNECT x.com:443 HTTP/1.1\r\nX: " + String(repeating: "a", count: 20_000) + "\r\n\r\n").hasPrefix("HTTP/1.1 431 "))
        let unreachable = try ask(port, "CONNECT x.com:443 HTTP/1.1\r\n\r\n")
        #expect(unreachable.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        #expect(unreachable.contains("the parent's egress proxy at tcp:127.0.0.1:\(deadPort) cannot be reached"))
        #expect(try ask(port, "CONNECT x.com:443 HTTP/1.1\r\n").isEmpty) // the head never ended: closed
        let counters = enclave.listeners[0].counters.snapshot
        #expect((counters.malformed, counters.failed) == (2, 1))
    }

    /// A request and its EOF that wait while the connection waits for a slot (max_connections)
    /// are read out by NIO on the EOF notification before the proxy looks at the connection;
    /// they must still be answered. (Both connections usually arrive in one accept wake-up; when
    /// they do not, the second waits in the backlog instead and the test passes either way.)
    @Test func aRequestThatArrivedBeforeTheProxyLookedIsStillAnswered() throws {
        let policy = EgressPolicy(allow: try rules(["**"]), deny: [])
        let enclave = try RelayService.started(routes: [RelayRoute(name: "egress", listen: .tcp(host: "127.0.0.1", port: 0),
                                                           target: .egress(.enclave(policy: policy, parent: .unix(path: "/nonexistent/parent"))),
                                                           connectTimeout: .seconds(1), maxConnections: 1)],
                                       emulation: nil, logger: Logger(label: "test"), threads: 1)
        defer { enclave.stop(drain: .zero) }
        let port = UInt16(try #require(enclave.listeners[0].boundAddress?.port))
        let first = try BlockingSocket.connect(port: port) // takes the only slot, sends nothing yet
        let waiting = try BlockingSocket.connect(port: port)
        try waiting.writeAll(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        waiting.shutdownWrite()
        usleep(200_000)
        first.shutdownWrite() // the first ends (EOF before a head): the slot frees
        #expect(try first.readToEnd().isEmpty)
        #expect(String(decoding: try waiting.readToEnd(), as: UTF8.self).hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
    }

    @Test func aParentThatTakesTheConnectionAndNeverAnswersIsGivenUpWith504() throws {
        let (silentParent, silentPort) = try BlockingSocket.listen()
        let policy = EgressPolicy(allow: try rules(["**"]), deny: [])
        let enclave = try RelayService.started(routes: [RelayRoute(name: "egress", listen: .tcp(host: "127.0.0.1", port: 0),
                                                           target: .egress(.enclave(policy: policy, parent: .tcp(host: "127.0.0.1", port: silentPort))),
                                                           connectTimeout: .milliseconds(200))],
                                       emulation: nil, logger: Logger(label: "test"), threads: 1)
        defer { enclave.stop(drain: .zero) }
        let port = UInt16(try #require(enclave.listeners[0].boundAddress?.port))
        let started = ContinuousClock.now
        let reply = try ask(port, "CONNECT x.com:443 HTTP/1.1\r\n\r\n")
        #expect(reply.hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"), "\(reply)")
        #expect(reply.contains("the parent's egress proxy did not answer within 1200 ms"))
        #expect(ContinuousClock.now - started < .seconds(10))
        let parentSide = try silentParent.accept()
        #expect(String(decoding: try parentSide.readToEnd(), as: UTF8.self) == "CONNECT x.com:443 HTTP/1.1\r\nHost: x.com:443\r\n\r\n")
    }

    /// Thousands of random and mangled requests: every one is answered with an HTTP status or
    /// closed, none hangs, the proxy keeps serving, and memory stays bounded.
    @Test func fuzzedRequestsAreAnsweredOrClosedAndNothingGrows() throws {
        let (enclave, parent, port) = try halves(allow: ["**.example.com", "10.0.0.0/8"], deny: ["bad.example.com"], parentPath: "/nonexistent/parent")
        defer { enclave.stop(drain: .zero); parent.stop(drain: .zero) }
        let seeds = ["CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n",
                     "GET http://api.example.com/path?q=1 HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\n\r\n",
                     "CONNECT [::ffff:10.0.0.1]:8443 HTTP/1.0\r\n\r\n", "POST http://bad.example.com:80/ HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"]
        var generator = SystemRandomNumberGenerator()
        let rssBefore = residentKiB()
        var answered = 0, closed = 0
        for round in 0..<3000 {
            var bytes = Array(seeds[round % seeds.count].utf8)
            switch round % 6 {
            case 0: for _ in 0..<Int.random(in: 1...8, using: &generator) { bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            case 1: bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &generator)))
            case 2: bytes.insert(contentsOf: (0..<Int.random(in: 1...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }, at: Int.random(in: 0...bytes.count, using: &generator))
            case 3: bytes = (0..<Int.random(in: 1...512, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            case 4: bytes.insert(contentsOf: Array(("X-Long: " + String(repeating: "z", count: Int.random(in: 1...40_000, using: &generator)) + "\r\n").utf8), at: bytes.firstIndex(of: 10).map { $0 + 1 } ?? 0)
            default: bytes = Array(String(repeating: "\r\n", count: Int.random(in: 0...10, using: &generator)).utf8) + bytes
            }
            let client = try BlockingSocket.connect(port: port)
            client.setReceiveTimeout(seconds: 10)
            try? client.writeAll(bytes)
            client.shutdownWrite()
            let reply: [UInt8]
            do {
                reply = try client.readToEnd() // a hang throws after 10 s
            } catch {
                Issue.record("round \(round): no answer and no close within 10 s (\(error)); sent \(bytes.count) bytes: \(String(decoding: bytes.prefix(120), as: UTF8.self).debugDescription); \(enclave.listeners[0].counters.snapshot)")
                continue
            }
            if reply.starts(with: Array("HTTP/1.1 ".utf8)) { answered += 1 } else {
                #expect(reply.isEmpty, "round \(round): neither an answer nor a close: \(reply.prefix(80))")
                closed += 1
            }
        }
        #expect(answered > 1000, "\(answered) answered, \(closed) closed")
        #expect(eventually(timeout: .seconds(10)) { enclave.listeners[0].counters.snapshot.active == 0 })
        // Still serving, and memory did not grow with the number of requests.
        #expect(try ask(port, "CONNECT bad.example.com:443 HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 403 "))
        let growth = residentKiB() - rssBefore
        #expect(growth < 64 * 1024, "resident memory grew by \(growth) KiB over 3000 requests")
    }

    private func residentKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ")[1]) ?? 0
    }
}
