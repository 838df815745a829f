import Addressing
import Foundation
import NIOCore
import Relay
import Testing
import TestSupport
import Logging

/// The relay between real sockets on loopback: a client, enclave-init's listener, and a server
/// standing in for the far end (the vsock side is a TCP socket here; the sandbox tests cover
/// the Unix-socket emulation of vsock). Serialized: the tests reuse ephemeral ports, and a
/// "refused" port must not meet another test's listener.
@Suite(.serialized) struct RelayStreamTests {
    /// A relay from 127.0.0.1:<ephemeral> to `target`; stopped when the test ends.
    private func relay(to target: Endpoint, timeout: TimeAmount = .seconds(2), maxConnections: Int = 0) throws -> (RelayService, UInt16) {
        let route = RelayRoute(name: "test", listen: .tcp(host: "127.0.0.1", port: 0), target: target,
                               connectTimeout: timeout, maxConnections: maxConnections)
        let service = try RelayService.started(routes: [route], emulation: nil, logger: Logger(label: "test"), threads: 2)
        let port = try #require(service.listeners[0].boundAddress?.port)
        return (service, UInt16(port))
    }

    private func background(_ body: @escaping @Sendable () throws -> Void) -> DispatchGroup {
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { try? body() }
        return group
    }

    @Test func aGibibyteArrivesIntactAndTheAnswerComesBackAfterEOF() throws {
        let (listener, serverPort) = try BlockingSocket.listen()
        let (service, port) = try relay(to: .tcp(host: "127.0.0.1", port: serverPort))
        defer { service.stop(drain: .zero) }
        let total = 1 << 30
        final class Verdict: @unchecked Sendable { var intact = false; var received = 0 }
        let verdict = Verdict()
        let server = background {
            let connection = try listener.accept()
            var expected = PatternStream(seed: 42)
            var intact = true
            while true {
                let chunk = try connection.read(upTo: 1 << 18)
                if chunk.isEmpty { break }
                if intact && !expected.matches(chunk) { intact = false }
                verdict.received += chunk.count
            }
            verdict.intact = intact
            // The client's EOF arrived; this direction still works: answer, then close.
            try connection.writeAll(Array("received \(verdict.received)".utf8))
        }
        let client = try BlockingSocket.connect(port: port)
        var source = PatternStream(seed: 42)
        var sent = 0
        while sent < total {
            let chunk = source.next(min(1 << 18, total - sent))
            try client.writeAll(chunk)
            sent += chunk.count
        }
        client.shutdownWrite()
        let answer = String(decoding: try client.readToEnd(), as: UTF8.self)
        server.wait()
        #expect(verdict.received == total)
        #expect(verdict.intact)
        #expect(answer == "received \(total)")
        #expect(eventually { service.listeners[0].counters.snapshot.active == 0 })
        let counters = service.listeners[0].counters.snapshot
        #expect(counters.bytesIn == total && counters.bytesOut == answer.utf8.count && counters.accepted == 1)
    }

    /// Every established connection is handed to the splice engine: the one byte path. Counted
    /// by the engine itself, so the test cannot pass on a connection relayed some other way.
    @Test func everyConnectionIsHandedToTheSpliceEngine() throws {
        let (listener, serverPort) = try BlockingSocket.listen()
        let (service, port) = try relay(to: .tcp(host: "127.0.0.1", port: serverPort))
        defer { service.stop(drain: .zero) }
        #expect(service.connectionsSpliced == 0)
        for round in 1...3 {
            let client = try BlockingSocket.connect(port: port)
            try client.writeAll(Array("ping".utf8))
            let server = try listener.accept()
            #expect(try server.read(upTo: 4) == Array("ping".utf8))
            #expect(eventually { service.connectionsSpliced == round }, "\(service.connectionsSpliced)")
        }
    }

    @Test func theServerCanFinishFirstWhileTheClientKeepsSending() throws {
        let (listener, serverPort) = try BlockingSocket.listen()
        let (service, port) = try relay(to: .tcp(host: "127.0.0.1", port: serverPort))
        defer { service.stop(drain: .zero) }
        final class Received: @unchecked Sendable { var bytes: [UInt8] = [] }
        let received = Received()
        let server = background {
            let connection = try listener.accept()
            try connection.writeAll(Array("greeting".utf8))
            connection.shutdownWrite() // the server is done talking, but still listens
            received.bytes = try connection.readToEnd()
        }
        let client = try BlockingSocket.connect(port: port)
        #expect(try client.readToEnd() == Array("greeting".utf8)) // EOF arrived after the greeting
        var source = PatternStream(seed: 7)
        let late = source.next(3 << 20) // 3 MiB after the server's EOF
        try client.writeAll(late)
        client.shutdownWrite()
        server.wait()
        #expect(received.bytes == late)
    }

    @Test func aResetOnOneSideResetsTheOtherPromptly() throws {
        let (listener, serverPort) = try BlockingSocket.listen()
        let (service, port) = try relay(to: .tcp(host: "127.0.0.1", port: serverPort))
        defer { service.stop(drain: .zero) }
        let client = try BlockingSocket.connect(port: port)
        try client.writeAll(Array("hello".utf8))
        let connection = try listener.accept()
        #expect(try connection.read(upTo: 5) == Array("hello".utf8))
        connection.resetOnClose()
        let start = ContinuousClock.now
        _ = consume connection // close with RST
        client.setReceiveTimeout(seconds: 3)
        let outcome: String
        do {
            let bytes = try client.read(upTo: 10)
            outcome = bytes.isEmpty ? "eof" : "data"
        } catch BlockingSocket.Failure.system(_, let code) {
            outcome = code == ECONNRESET ? "reset" : "errno \(code)"
        }
        #expect(outcome == "reset", "the client saw \(outcome)")
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func aSlowReaderStallsTheWriterInsteadOfGrowingMemory() throws {
        let (listener, serverPort) = try BlockingSocket.listen()
        let (service, port) = try relay(to: .tcp(host: "127.0.0.1", port: serverPort))
        defer { service.stop(drain: .zero) }
        let total = 256 << 20
        let server = background {
            let connection = try listener.accept()
            var source = PatternStream(seed: 9)
            var sent = 0
            while sent < total {
                let chunk = source.next(1 << 20)
                try connection.writeAll(chunk)
                sent += chunk.count
            }
        }
        let client = try BlockingSocket.connect(port: port)
        usleep(1_500_000) // the client reads nothing for 1.5 s
        let buffered = service.listeners[0].counters.snapshot.bytesOut
        // What the relay took from the server while the client slept: the client socket's
        // kernel buffers plus the relay's own bound (watermark and a read buffer), not 256 MiB.
        #expect(buffered < 16 << 20, "the relay read \(buffered) bytes from the server for a client that reads nothing")
        var expected = PatternStream(seed: 9)
        var got = 0
        var intact = true
        while got < total {
            let chunk = try client.read(upTo: 1 << 18)
            if chunk.isEmpty { break }
            if intact && !expected.matches(chunk) { intact = false }
            got += chunk.count
        }
        server.wait()
        #expect(got == total && intact)
    }

    @Test func anUpstreamThatRefusesClosesTheClientAndIsCounted() throws {
        let (probe, unusedPort) = try BlockingSocket.listen()
        _ = consume probe // closed: nothing listens on unusedPort now
        let (service, port) = try relay(to: .tcp(host: "127.0.0.1", port: unusedPort))
        defer { service.stop(drain: .zero) }
        let client = try BlockingSocket.connect(port: port)
        client.setReceiveTimeout(seconds: 3)
        let start = ContinuousClock.now
        #expect(try client.readToEnd().isEmpty)
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(eventually { service.listeners[0].counters.snapshot.upstreamFailures == 1 })
    }

    @Test func anUpstreamThatNeverAnswersTimesOut() throws {
        // A listener that never accepts, its backlog filled: further SYNs are dropped.
        let (listener, serverPort) = try BlockingSocket.listen(backlog: 0)
        var fillers: [BlockingSocket] = []
        for _ in 0..<3 { fillers.append(try BlockingSocket.connect(port: serverPort, wait: false)) }
        let (service, port) = try relay(to: .tcp(host: "127.0.0.1", port: serverPort), timeout: .milliseconds(300))
        defer { service.stop(drain: .zero) }
        let client = try BlockingSocket.connect(port: port)
        client.setReceiveTimeout(seconds: 5)
        let start = ContinuousClock.now
        #expect(try client.readToEnd().isEmpty)
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(250) && elapsed < .seconds(2), "closed after \(elapsed)")
        #expect(eventually { service.listeners[0].counters.snapshot.upstreamFailures == 1 })
        withExtendedLifetime((listener, fillers)) {}
    }

    @Test func connectionsBeyondTheLimitWaitInsteadOfBeingDropped() throws {
        let (listener, serverPort) = try BlockingSocket.listen()
        let (service, port) = try relay(to: .tcp(host: "127.0.0.1", port: serverPort), maxConnections: 2)
        defer { service.stop(drain: .zero) }
        final class Accepted: @unchecked Sendable {
            let lock = NSLock()
            var sockets: [BlockingSocket] = []
            var count: Int { lock.withLock { sockets.count } }
        }
        let accepted = Accepted()
        let server = background {
            for _ in 0..<3 {
                let socket = try listener.accept()
                accepted.lock.withLock { accepted.sockets.append(socket) }
            }
        }
        // The third connects once the first two have their slots: which of three simultaneous
        // connections gets a slot first is up to the event loops (shared with other tests).
        var clients = try (0..<2).map { _ in try BlockingSocket.connect(port: port) }
        #expect(eventually { accepted.count == 2 })
        clients.append(try BlockingSocket.connect(port: port))
        usleep(300_000)
        #expect(accepted.count == 2, "the third connection went through despite max_connections 2")
        // The third waits: in the kernel's backlog (at the limit the listener stops accepting),
        // or, when it was accepted before the listener's loop turned accepting off, for a slot.
        let active = service.listeners[0].counters.snapshot.active
        #expect(active == 2 || active == 3, "\(active) active")
        // The first two connections end on both sides (which server socket belongs to which
        // client depends on connect order): their slots go to the waiting one.
        let waiting = clients.removeLast()
        clients.removeAll()
        accepted.lock.withLock { accepted.sockets.forEach { $0.shutdownWrite() } }
        #expect(eventually(timeout: .seconds(10)) { accepted.count == 3 })
        server.wait()
        // The third one works end to end.
        try waiting.writeAll(Array("late".utf8))
        let third = accepted.lock.withLock { accepted.sockets.count == 3 ? accepted.sockets[2] : nil }
        #expect(try third?.read(upTo: 4) == Array("late".utf8))
    }

    @Test func stopClosesTheListenerAndDrainsOpenConnectionsForAWhile() throws {
        let (listener, serverPort) = try BlockingSocket.listen()
        let (service, port) = try relay(to: .tcp(host: "127.0.0.1", port: serverPort))
        let client = try BlockingSocket.connect(port: port)
        try client.writeAll(Array("ping".utf8))
        let server = try listener.accept()
        #expect(try server.read(upTo: 4) == Array("ping".utf8))
        // The connection stays open: stop waits the drain period, then closes it.
        let start = ContinuousClock.now
        service.stop(drain: .milliseconds(300))
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(280) && elapsed < .seconds(2), "stop took \(elapsed)")
        client.setReceiveTimeout(seconds: 3)
        #expect((try? client.readToEnd()) != nil) // EOF or reset, not a hang
        #expect((try? BlockingSocket.connect(port: port)) == nil) // nothing listens any more
    }

    @Test func upstreamFailuresAreLoggedAtMostOnceASecond() throws {
        let (probe, unusedPort) = try BlockingSocket.listen()
        _ = consume probe
        let capture = LogCapture()
        let route = RelayRoute(name: "test", listen: .tcp(host: "127.0.0.1", port: 0), target: .tcp(host: "127.0.0.1", port: unusedPort),
                               connectTimeout: .seconds(1))
        let service = try RelayService.started(routes: [route], emulation: nil, logger: capture.logger, threads: 2)
        defer { service.stop(drain: .zero) }
        let port = UInt16(try #require(service.listeners[0].boundAddress?.port))
        for _ in 0..<20 {
            let client = try BlockingSocket.connect(port: port)
            _ = try client.readToEnd()
        }
        #expect(eventually { service.listeners[0].counters.snapshot.upstreamFailures == 20 })
        let warnings = capture.messages(at: .warning).filter { $0.contains("cannot reach") }
        #expect((1...2).contains(warnings.count), "\(warnings)")
        // In the system's words, not NIO's "connect(descriptor:addr:size:): … (errno: 111)".
        #expect(warnings.first?.contains("cannot reach tcp:127.0.0.1:\(unusedPort): Connection refused; closing") == true, "\(warnings)")
    }

    /// A looked-up target (the parent's DNS names) tries each candidate until one answers.
    @Test func aLookupTargetTriesEachCandidateInTurn() throws {
        let (listener, serverPort) = try BlockingSocket.listen()
        let (probe, refusedPort) = try BlockingSocket.listen()
        _ = consume probe
        let lookups = LookupCounter()
        let target = TargetLookup(description: "two candidates") {
            lookups.increment()
            return [.tcp(host: "127.0.0.1", port: refusedPort), .tcp(host: "127.0.0.1", port: serverPort)]
        }
        let route = RelayRoute(name: "test", listen: .tcp(host: "127.0.0.1", port: 0), target: .lookup(target), connectTimeout: .seconds(2))
        let service = try RelayService.started(routes: [route], emulation: nil, logger: Logger(label: "test"), threads: 2)
        defer { service.stop(drain: .zero) }
        let port = UInt16(try #require(service.listeners[0].boundAddress?.port))
        for round in 0..<2 {
            let client = try BlockingSocket.connect(port: port)
            try client.writeAll(Array("round \(round)".utf8))
            let server = try listener.accept()
            #expect(try server.read(upTo: 7) == Array("round \(round)".utf8))
        }
        #expect(lookups.value == 2) // once per connection: DNS changes are followed
        #expect(service.listeners[0].counters.snapshot.upstreamFailures == 0)
    }

    /// A client that writes its request and half-closes before the target is even found: the
    /// bytes and the EOF wait for the relay (NIO reads them out on the EOF notification).
    @Test func aRequestAndEOFSentBeforeTheTargetAnswersAreNotLost() throws {
        let (listener, serverPort) = try BlockingSocket.listen()
        let slowLookup = TargetLookup(description: "slow") {
            usleep(200_000)
            return [.tcp(host: "127.0.0.1", port: serverPort)]
        }
        let route = RelayRoute(name: "test", listen: .tcp(host: "127.0.0.1", port: 0), target: .lookup(slowLookup), connectTimeout: .seconds(2))
        let service = try RelayService.started(routes: [route], emulation: nil, logger: Logger(label: "test"), threads: 2)
        defer { service.stop(drain: .zero) }
        let port = UInt16(try #require(service.listeners[0].boundAddress?.port))
        let client = try BlockingSocket.connect(port: port)
        let request = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        try client.writeAll(request)
        client.shutdownWrite()
        let server = try listener.accept()
        #expect(try server.readToEnd() == request) // every byte, then EOF
        try server.writeAll(Array("answer".utf8))
        server.shutdownWrite()
        #expect(try client.readToEnd() == Array("answer".utf8))
    }

    @Test func aFailedLookupOrNoAnsweringCandidateClosesThatConnectionAndSaysWhy() throws {
        let (probe, refusedPort) = try BlockingSocket.listen()
        _ = consume probe
        struct NoSuchName: Error, CustomStringConvertible { var description: String { "cannot resolve nowhere.example" } }
        let capture = LogCapture()
        let routes = [
            RelayRoute(name: "unresolvable", listen: .tcp(host: "127.0.0.1", port: 0),
                       target: .lookup(TargetLookup(description: "nowhere") { throw NoSuchName() }), connectTimeout: .seconds(1)),
            RelayRoute(name: "refusing", listen: .tcp(host: "127.0.0.1", port: 0),
                       target: .lookup(TargetLookup(description: "refusing") { [.tcp(host: "127.0.0.1", port: refusedPort), .tcp(host: "127.0.0.2", port: refusedPort)] }),
                       connectTimeout: .seconds(1)),
        ]
        let service = try RelayService.started(routes: routes, emulation: nil, logger: capture.logger, threads: 2)
        defer { service.stop(drain: .zero) }
        for listener in service.listeners {
            let client = try BlockingSocket.connect(port: UInt16(try #require(listener.boundAddress?.port)))
            #expect(try client.readToEnd().isEmpty)
            #expect(eventually { listener.counters.snapshot.upstreamFailures == 1 })
        }
        let warnings = capture.messages(at: .warning)
        #expect(warnings.contains { $0.contains("unresolvable: cannot reach nowhere: cannot resolve nowhere.example") }, "\(warnings)")
        #expect(warnings.contains { $0.contains("refusing: cannot reach refusing: tcp:127.0.0.1:\(refusedPort): Connection refused; tcp:127.0.0.2:\(refusedPort): Connection refused") },
                "\(warnings)")
    }
}

private final class LookupCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
