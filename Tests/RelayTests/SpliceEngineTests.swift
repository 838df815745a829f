import Foundation
import NIOConcurrencyHelpers
@testable import Relay
import Testing
import TestSupport

/// The splice engine on its own, over Unix socket pairs. The relay tests drive it through real
/// listeners; these pin what only the hand-over has (bytes and EOF that NIO read first), the
/// copy path a direction takes when it gets no pipe, and the stop.
@Suite struct SpliceEngineTests {
    /// The app ends of one handed-over connection, and what the engine reported.
    private struct Relayed {
        var client: BlockingSocket
        var server: BlockingSocket
        var ended: DispatchSemaphore
        var counted: NIOLockedValueBox<(in: Int, out: Int)>
    }

    private func relay(on engine: SpliceEngine, fromClient: [UInt8] = [], clientEOF: Bool = false,
                       fromServer: [UInt8] = [], serverEOF: Bool = false) throws -> Relayed {
        let (client, clientEnd) = try BlockingSocket.pair()
        let (server, serverEnd) = try BlockingSocket.pair()
        let ended = DispatchSemaphore(value: 0)
        let counted = NIOLockedValueBox((in: 0, out: 0))
        engine.relay(SpliceHandover(client: clientEnd, server: serverEnd, fromClient: fromClient, clientEOF: clientEOF,
                                    fromServer: fromServer, serverEOF: serverEOF,
                                    countIn: { n in counted.withLockedValue { $0.in += n } },
                                    countOut: { n in counted.withLockedValue { $0.out += n } },
                                    ended: { ended.signal() }))
        return Relayed(client: client, server: server, ended: ended, counted: counted)
    }

    @Test func bytesReadBeforeTheHandOverGoFirstAndAnEarlyEOFIsPassedOn() throws {
        let engine = try SpliceEngine(threads: 1)
        defer { engine.stop() }
        let request = Array("GET / HTTP/1.0\r\n\r\n".utf8)
        let relayed = try relay(on: engine, fromClient: request, clientEOF: true, fromServer: Array("early-".utf8))
        // The client's request and its EOF reach the server although the engine never read them.
        #expect(try relayed.server.readToEnd() == request)
        try relayed.server.writeAll(Array("answer".utf8))
        relayed.server.shutdownWrite()
        #expect(try relayed.client.readToEnd() == Array("early-answer".utf8))
        #expect(relayed.ended.wait(timeout: .now() + 5) == .success)
        // Early bytes are counted by the listener at the hand-over; the engine counts what it moves.
        #expect(relayed.counted.withLockedValue { $0 } == (0, 6))
    }

    /// pipeLimit 0: no direction gets a pipe, every byte is read and written by the engine.
    @Test(arguments: [0, PipePool.defaultLimit]) func everyByteArrivesInOrderBothWaysWithOrWithoutPipes(pipeLimit: Int) throws {
        let engine = try SpliceEngine(threads: 1, pipeLimit: pipeLimit)
        defer { engine.stop() }
        let relayed = try relay(on: engine)
        let upward = 48 << 20, downward = 16 << 20
        let sent = DispatchGroup()
        for (socket, total, seed) in [(relayed.client, upward, UInt64(1)), (relayed.server, downward, UInt64(2))] {
            DispatchQueue.global().async(group: sent) {
                var source = PatternStream(seed: seed)
                while source.position < total { try? socket.writeAll(source.next(min(1 << 20, total - source.position))) }
                socket.shutdownWrite()
            }
        }
        let received = DispatchGroup()
        let results = NIOLockedValueBox([String: (count: Int, intact: Bool)]())
        for (name, socket, seed) in [("at the server", relayed.server, UInt64(1)), ("at the client", relayed.client, UInt64(2))] {
            DispatchQueue.global().async(group: received) {
                var expected = PatternStream(seed: seed)
                var count = 0, intact = true
                while let chunk = try? socket.read(upTo: 1 << 18), !chunk.isEmpty {
                    if intact && !expected.matches(chunk) { intact = false }
                    count += chunk.count
                }
                results.withLockedValue { $0[name] = (count, intact) }
            }
        }
        sent.wait()
        received.wait()
        let got = results.withLockedValue { $0 }
        #expect(got["at the server"]?.count == upward && got["at the server"]?.intact == true)
        #expect(got["at the client"]?.count == downward && got["at the client"]?.intact == true)
        #expect(relayed.counted.withLockedValue { $0 } == (upward, downward))
        #expect(relayed.ended.wait(timeout: .now() + 5) == .success)
    }

    @Test func stopClosesWhatIsStillRelayedAndLateConnectionsAreClosedAtOnce() throws {
        let engine = try SpliceEngine(threads: 2)
        let open = try relay(on: engine)
        try open.client.writeAll(Array("ping".utf8))
        #expect(try open.server.read(upTo: 4) == Array("ping".utf8))
        engine.stop()
        #expect(open.ended.wait(timeout: .now() + 5) == .success)
        #expect(try open.client.readToEnd().isEmpty) // EOF, not a hang
        let late = try relay(on: engine)
        #expect(late.ended.wait(timeout: .now() + 5) == .success)
        #expect(try late.server.readToEnd().isEmpty)
    }

    @Test func thePoolStopsAtItsLimitAndKeepsNoMoreSparePipesThanConnections() {
        var pipes = PipePool(limit: 3)
        let taken = (0..<4).compactMap { _ in pipes.take() }
        #expect(taken.count == 3 && pipes.open == 3) // the fourth direction copies instead
        #expect(taken.allSatisfy { $0.capacity >= 65536 })
        for pipe in taken { pipes.giveBack(pipe) }
        let reused = pipes.take()
        #expect(reused != nil && pipes.open == 3) // an idle pipe is reused, none made
        pipes.trim(keeping: 1)
        #expect(pipes.open == 2) // the one in use and one spare
        pipes.trim(keeping: 0)
        #expect(pipes.open == 1)
        if let reused { pipes.discard(reused) }
        #expect(pipes.open == 0)
    }
}
