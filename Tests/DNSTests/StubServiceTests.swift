import Addressing
import BootConfig
@testable import DNS
import Foundation
import Glibc
import Logging
import NIOCore
import NIOConcurrencyHelpers
import Policy
import Testing
import TestSupport

/// A parent half stand-in on TCP loopback: reads DNS-over-TCP frames and answers each with
/// `respond` (nil: stays silent), on one thread per connection.
final class FakeParent: @unchecked Sendable {
    let port: UInt16
    let queries = NIOLockedValueBox(0)
    private let listener: BlockingSocket

    init(respond: @escaping @Sendable ([UInt8]) -> [UInt8]?) throws {
        (listener, port) = try BlockingSocket.listen()
        let listener = self.listener, queries = self.queries
        Thread.detachNewThread {
            while let connection = try? listener.accept() {
                Thread.detachNewThread {
                    while let length = try? connection.read(upTo: 2), length.count == 2 {
                        let count = Int(length[0]) << 8 | Int(length[1])
                        guard let query = try? connection.read(upTo: count), query.count == count else { return }
                        queries.withLockedValue { $0 += 1 }
                        if let answer = respond(query) {
                            try? connection.writeAll([UInt8(answer.count >> 8), UInt8(answer.count & 0xFF)] + answer)
                        }
                    }
                }
            }
        }
    }

    var endpoint: Endpoint { .tcp(host: "127.0.0.1", port: port) }
}

/// A UDP client with a receive timeout.
struct UDPClient {
    let fd: Int32

    init() {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8], port: Int) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// The next datagram, or nil after the timeout.
    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count < 0 ? nil : Array(buffer[0..<count])
    }

    func close() { Glibc.close(fd) }
}

@Suite(.serialized) struct StubServiceTests {
    private func stub(parent: Endpoint, allow: [String]? = nil, timeout: TimeAmount = .milliseconds(500)) throws -> DNSStub {
        let policy = allow.map { EgressPolicy(allow: $0.map { try! EgressRule.parse($0).get() }, deny: []) }
        let stub = DNSStub(rules: StubRules(local: ["kms.example": IPv4Address("127.0.0.2")!], policy: policy), parent: parent,
                           names: NameTable(), logger: Logger(label: "test"), port: 0, timeout: timeout)
        try stub.start()
        return stub
    }

    private func ask(_ stub: DNSStub, _ query: [UInt8]) throws -> DNSMessage? {
        let client = UDPClient()
        defer { client.close() }
        client.send(query, port: try #require(stub.boundPorts).udp)
        return client.receive().flatMap { try? DNSMessage.parse($0).get() }
    }

    /// The same over TCP: every query written first, then every answer read (any order).
    private func askOverTCP(_ stub: DNSStub, _ queries: [[UInt8]]) throws -> [DNSMessage] {
        let socket = try BlockingSocket.connect(port: UInt16(try #require(stub.boundPorts).tcp))
        socket.setReceiveTimeout(seconds: 5)
        try socket.writeAll(queries.flatMap { [UInt8($0.count >> 8), UInt8($0.count & 0xFF)] + $0 })
        var answers: [DNSMessage] = []
        for _ in queries {
            let length = try socket.read(upTo: 2)
            guard length.count == 2 else { break }
            let body = try socket.read(upTo: Int(length[0]) << 8 | Int(length[1]))
            if let message = try? DNSMessage.parse(body).get() { answers.append(message) }
        }
        return answers
    }

    @Test func forwardedQueriesComeBackWithTheClientsIdAndFeedTheNameTable() throws {
        let parent = try FakeParent { query in DNSWire.response(to: query, records: [DNSWire.a("198.18.0.10")]) }
        let stub = try stub(parent: parent.endpoint)
        defer { stub.stop() }
        let answer = try #require(try ask(stub, DNSWire.query(id: 0x4242, "api.example")))
        #expect(answer.id == 0x4242 && answer.responseCode == 0)
        #expect(answer.answerRecords() == [.ipv4(name: "api.example", IPv4Address("198.18.0.10")!, ttl: 60)])
        #expect(stub.names.names(for: .v4(IPv4Address("198.18.0.10")!)) == ["api.example"])
        // Mapped names never reach the parent.
        let local = try #require(try ask(stub, DNSWire.query("kms.example")))
        #expect(local.answerRecords() == [.ipv4(name: "kms.example", IPv4Address("127.0.0.2")!, ttl: StubRules.localTTL)])
        #expect(parent.queries.withLockedValue { $0 } == 1)
        // Asked again: answered from the cache, with the new id, without the parent.
        let again = try #require(try ask(stub, DNSWire.query(id: 0x4343, "api.example")))
        #expect(again.id == 0x4343 && again.answerRecords()?.count == 1)
        #expect(parent.queries.withLockedValue { $0 } == 1 && stub.counters.snapshot.cached == 1)
    }

    /// Two names on one address: resolving the first again after the second, from the cache,
    /// names the address with it again (a cached answer counts like a forwarded one).
    @Test func cachedAnswersNameTheirAddressesToo() throws {
        let parent = try FakeParent { query in DNSWire.response(to: query, records: [DNSWire.a("198.18.0.10")]) }
        let stub = try stub(parent: parent.endpoint)
        defer { stub.stop() }
        let shared = IPAddress.v4(IPv4Address("198.18.0.10")!)
        _ = try ask(stub, DNSWire.query("api.example"))
        _ = try ask(stub, DNSWire.query("cdn.example"))
        #expect(stub.names.names(for: shared) == ["cdn.example", "api.example"])
        _ = try #require(try ask(stub, DNSWire.query("api.example")))
        #expect(stub.counters.snapshot.cached == 1 && parent.queries.withLockedValue { $0 } == 2)
        #expect(stub.names.names(for: shared) == ["api.example", "cdn.example"])
    }

    @Test func manyQueriesInFlightOnOneTCPConnectionAreMatchedById() throws {
        // The parent answers each with an address naming the query.
        let parent = try FakeParent { query in
            let name = (try? DNSMessage.parse(query).get())?.question.name ?? ""
            let index = UInt8(name.split(separator: ".").first.flatMap { Int($0.dropFirst()) } ?? 0)
            return DNSWire.response(to: query, records: [(1, 60, [198, 18, 1, index])])
        }
        let stub = try stub(parent: parent.endpoint)
        defer { stub.stop() }
        // Every client uses id 1: the stub's own ids keep them apart.
        let queries = (0..<20).map { DNSWire.query(id: 1, "q\($0).example") }
        let answers = try askOverTCP(stub, queries)
        #expect(answers.count == 20)
        for answer in answers {
            let index = Int(answer.question.name.split(separator: ".")[0].dropFirst())!
            #expect(answer.id == 1 && answer.answerRecords() == [.ipv4(name: answer.question.name, IPv4Address("198.18.1.\(index)")!, ttl: 60)])
        }
    }

    @Test func aParentThatIsAwaySilentOrLyingGivesServfailWithinTheBound() throws {
        // Away: nothing listens.
        let port = try { () throws -> UInt16 in try BlockingSocket.listen().1 }() // closed again at once
        let away = try stub(parent: .tcp(host: "127.0.0.1", port: port))
        defer { away.stop() }
        let start = ContinuousClock.now
        #expect(try ask(away, DNSWire.query("a.example"))?.responseCode == DNSResponseCode.serverFailure.rawValue)
        // Silent, and an answer for another question: both wait out the stub's timeout.
        let silent = try stub(parent: try FakeParent { _ in nil }.endpoint)
        defer { silent.stop() }
        #expect(try ask(silent, DNSWire.query("b.example"))?.responseCode == DNSResponseCode.serverFailure.rawValue)
        let lying = try stub(parent: try FakeParent { query in
            var other = DNSWire.response(to: DNSWire.query("evil.example"), records: [DNSWire.a("203.0.113.1")])
            other[0] = query[0]; other[1] = query[1]
            return other
        }.endpoint)
        defer { lying.stop() }
        #expect(try ask(lying, DNSWire.query("c.example"))?.responseCode == DNSResponseCode.serverFailure.rawValue)
        #expect(lying.names.names(for: .v4(IPv4Address("203.0.113.1")!)).isEmpty)
        #expect(ContinuousClock.now - start < .seconds(4), "three queries with a 500 ms bound took \(ContinuousClock.now - start)")
    }

    @Test func deniedNamesAreRefusedWithoutAskingTheParent() throws {
        let parent = try FakeParent { query in DNSWire.response(to: query, records: [DNSWire.a("198.18.0.1")]) }
        let stub = try stub(parent: parent.endpoint, allow: ["**.amazonaws.com"])
        defer { stub.stop() }
        #expect(try ask(stub, DNSWire.query("secret.attacker.example"))?.responseCode == DNSResponseCode.refused.rawValue)
        #expect(try ask(stub, DNSWire.query("s3.amazonaws.com"))?.responseCode == 0)
        #expect(parent.queries.withLockedValue { $0 } == 1)
        #expect(stub.counters.snapshot.refused == 1)
    }

    @Test func aLargeAnswerIsTruncatedForUDPAndWholeOverTCP() throws {
        let parent = try FakeParent { query in DNSWire.response(to: query, records: (0..<60).map { DNSWire.a("198.18.2.\($0)") }) }
        let stub = try stub(parent: parent.endpoint)
        defer { stub.stop() }
        let udp = try #require(try ask(stub, DNSWire.query("big.example")))
        #expect(udp.flags & 0x0200 != 0 && udp.answerCount == 0)
        let tcp = try askOverTCP(stub, [DNSWire.query("big.example")])
        #expect(tcp.first?.answerRecords()?.count == 60)
    }

    /// Thousands of random and mangled messages over UDP and TCP, and garbage frames from the
    /// parent side: the stub keeps answering a good query, and nothing hangs.
    @Test func fuzzedMessagesFromBothSidesNeverStopTheStub() throws {
        var generator = SystemRandomNumberGenerator()
        let parent = try FakeParent { query in
            var rng = SystemRandomNumberGenerator()
            switch UInt8.random(in: 0...3, using: &rng) {
            case 0: return (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 1: return Array(DNSWire.response(to: query, records: [DNSWire.a("198.18.3.1")]).prefix(Int.random(in: 0...30, using: &rng)))
            case 2: return nil
            default: return DNSWire.response(to: query, records: [DNSWire.a("198.18.3.1")])
            }
        }
        let stub = try stub(parent: parent.endpoint, timeout: .milliseconds(200))
        defer { stub.stop() }
        let valid = DNSWire.query("fuzz.example", ednsSize: 1232)
        let client = UDPClient()
        defer { client.close() }
        let port = try #require(stub.boundPorts)
        for round in 0..<3000 {
            var message = valid
            switch round % 3 {
            case 0: message = (0..<Int.random(in: 0...80, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            case 1: for _ in 0..<Int.random(in: 1...6, using: &generator) { message[Int.random(in: 0..<message.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            default: message = Array(message.prefix(Int.random(in: 0...message.count, using: &generator)))
            }
            client.send(message, port: port.udp)
        }
        // TCP: random frames, then a frame whose length promises more than is ever sent.
        let socket = try BlockingSocket.connect(port: UInt16(port.tcp))
        for _ in 0..<500 {
            let body = (0..<Int.random(in: 0...60, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            try socket.writeAll([UInt8(body.count >> 8), UInt8(body.count & 0xFF)] + body)
        }
        try socket.writeAll([0xFF, 0xFF, 1, 2, 3])
        // Still answering: the local name at once, a forwarded one with the parent's answer or SERVFAIL.
        #expect(eventually(timeout: .seconds(20)) {
            let fresh = UDPClient()
            defer { fresh.close() }
            fresh.send(DNSWire.query(id: 0x7777, "kms.example"), port: port.udp)
            var deadline = 50
            while deadline > 0, let reply = fresh.receive() {
                if reply.count >= 2 && reply[0] == 0x77 && reply[1] == 0x77 { return true }
                deadline -= 1
            }
            return false
        })
        let forwarded = try askOverTCP(stub, [DNSWire.query(id: 9, "after.example")])
        #expect(forwarded.first?.id == 9)
        #expect(stub.counters.snapshot.malformed > 0)
    }
}
