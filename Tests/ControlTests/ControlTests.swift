import Addressing
import Control
import Foundation
import Logging
import Testing
import TestSupport

/// The control port over the vsock emulation, both ends in this process: the enclave's server
/// and the parent's client, with hostile peers in between.
@Suite struct ControlTests {
    let directory: TemporaryDirectory
    let emulation: VsockEmulation
    let port: UInt32 = 9102

    init() throws {
        directory = try TemporaryDirectory()
        emulation = VsockEmulation(directory: directory.path, localCID: 16)
    }

    private var socketPath: String { emulation.listenPath(port: port) }
    private var endpoint: Endpoint { emulation.emulate(connectingTo: .vsock(cid: 16, port: port)) }

    /// A started server whose `stop` requests are counted.
    private func server() throws -> (ControlServer, StopCounter) {
        let counter = StopCounter()
        let server = ControlServer(vsockPort: port, emulation: emulation, logger: Logger(label: "control-test")) { counter.count() }
        try server.start()
        return (server, counter)
    }

    private func answer(to bytes: [UInt8]) throws -> String {
        let socket = try BlockingSocket.connect(unixPath: socketPath)
        socket.setReceiveTimeout(seconds: 10)
        try socket.writeAll(bytes)
        return String(decoding: try socket.readToEnd(), as: UTF8.self)
    }

    @Test func answersAndLinesRoundTrip() {
        for answer: ControlProtocol.Answer in [.stopping, .shutdown(exitCode: 143, powerOff: true), .shutdown(exitCode: 0, powerOff: false),
                                               .error("unknown command \"x\"")] {
            #expect(ControlProtocol.Answer(line: String(answer.line.dropLast())) == answer)
        }
        #expect(ControlProtocol.Answer(line: "shutdown exit_code=x power_off=true") == nil)
        #expect(ControlProtocol.Answer(line: "HTTP/1.1 400 Bad Request") == nil)
    }

    @Test func commandsAreExact() {
        #expect((try? ControlProtocol.command(in: Array("stop".utf8)).get()) != nil)
        #expect((try? ControlProtocol.command(in: Array(" stop \r".utf8)).get()) != nil)
        #expect(throws: ControlProtocol.CommandError.unknown("reboot")) { try ControlProtocol.command(in: Array("reboot".utf8)).get() }
        #expect(throws: ControlProtocol.CommandError.notText) { try ControlProtocol.command(in: [0x73, 0x00, 0xFF]).get() }
    }

    @Test func stopIsAcknowledgedAndTheClientHearsTheExitCode() throws {
        let (server, stops) = try server()
        let client = ControlClient(endpoint: endpoint)
        let result = ResultBox()
        let thread = Thread { result.set(Result { try client.stop(timeout: .seconds(10)) }) }
        thread.start()
        #expect(eventually(timeout: .seconds(5)) { stops.value == 1 })
        #expect(result.value == nil, "the client must wait for the end, not return at `stopping`")
        server.finish(exitCode: 7, powerOff: false)
        #expect(eventually(timeout: .seconds(5)) { result.value != nil })
        #expect(try result.value?.get() == .exited(code: 7, powerOff: false))
    }

    /// A second `stop` (or a flood of them) is acknowledged and told the end too, but asks the
    /// supervisor only once.
    @Test func laterStopsAreAcknowledgedWithoutAskingAgain() throws {
        let (server, stops) = try server()
        let first = try BlockingSocket.connect(unixPath: socketPath)
        try first.writeAll(Array("stop\n".utf8))
        #expect(String(decoding: try first.read(upTo: 64), as: UTF8.self) == "stopping\n")
        let again = try (0..<20).map { _ in
            let socket = try BlockingSocket.connect(unixPath: socketPath)
            try socket.writeAll(Array("stop\n".utf8))
            #expect(String(decoding: try socket.read(upTo: 64), as: UTF8.self) == "stopping\n")
            return socket
        }
        #expect(stops.value == 1)
        server.finish(exitCode: 143, powerOff: false)
        // 21 asked, 16 fit: the oldest were evicted (the first among them, without the last line);
        // the newest hear the end.
        #expect(String(decoding: (try? first.readToEnd()) ?? [], as: UTF8.self) == "")
        #expect(String(decoding: try again[again.count - 1].readToEnd(), as: UTF8.self) == "shutdown exit_code=143 power_off=false\n")
    }

    @Test func anythingElseGetsOneErrorLineAndNoStop() throws {
        let (server, stops) = try server()
        defer { server.finish(exitCode: 0, powerOff: false) }
        #expect(try answer(to: Array("reboot\n".utf8)).hasPrefix("error: unknown command \"reboot\""))
        #expect(try answer(to: Array(repeating: UInt8(ascii: "s"), count: 100)).hasPrefix("error: no command within 64 bytes"))
        #expect(try answer(to: [0x16, 0x03, 0x01, 0x00, 0x0a, 0xff]).hasPrefix("error: not a text line"))
        #expect(try answer(to: Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)).hasPrefix("error: unknown command"))
        #expect(stops.value == 0)
    }

    /// A peer that goes on sending after its bad line still reads the error line: the server
    /// ends its side and drops the rest instead of closing on unread bytes (which resets the
    /// connection and can destroy the answer before the peer reads it).
    @Test func aPeerStillSendingAfterItsBadLineGetsTheErrorLine() throws {
        let (server, _) = try server()
        defer { server.finish(exitCode: 0, powerOff: false) }
        for _ in 0..<20 {
            let socket = try BlockingSocket.connect(unixPath: socketPath)
            socket.setReceiveTimeout(seconds: 10)
            try? socket.writeAll(Array("reboot\n".utf8) + Array(repeating: 0x41, count: 64 * 1024))
            let answer = String(decoding: (try? socket.readToEnd()) ?? [], as: UTF8.self)
            #expect(answer.hasPrefix("error: unknown command \"reboot\""), "\(answer)")
        }
    }

    @Test func aSilentPeerIsClosedAfterTheCommandTimeout() throws {
        let (server, stops) = try server()
        defer { server.finish(exitCode: 0, powerOff: false) }
        let socket = try BlockingSocket.connect(unixPath: socketPath)
        socket.setReceiveTimeout(seconds: 15)
        let start = ContinuousClock.now
        let said = String(decoding: try socket.readToEnd(), as: UTF8.self)
        #expect(said == "error: no command within 5 s\n")
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(stops.value == 0)
    }

    /// Random bytes, a thousand connections opened and dropped, more open at once than it
    /// allows: afterwards `stop` still works.
    @Test func garbageAndFloodsDoNotDisturbIt() throws {
        let (server, stops) = try server()
        var random = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let socket = try BlockingSocket.connect(unixPath: socketPath)
            let garbage = (0..<Int.random(in: 1...4096, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            try? socket.writeAll(garbage)
            if Bool.random(using: &random) { socket.resetOnClose() }
        }
        for _ in 0..<1000 { _ = try BlockingSocket.connect(unixPath: socketPath) }
        let held = try (0..<40).map { _ in try BlockingSocket.connect(unixPath: socketPath) } // beyond the 16 it serves at once
        #expect(stops.value == 0)
        let client = ControlClient(endpoint: endpoint)
        let result = ResultBox()
        let thread = Thread { result.set(Result { try client.stop(timeout: .seconds(20)) }) }
        // The held connections fill every slot; a new one evicts the oldest idle one at once,
        // so the stop gets in while the newest held connections are still open (it did not wait
        // for the silent ones to be closed after 5 s).
        thread.start()
        #expect(eventually(timeout: .seconds(15)) { stops.value == 1 }, "\(String(describing: result.value))")
        var byte: UInt8 = 0
        let newest = recv(held[held.count - 1].fd, &byte, 1, Int32(MSG_DONTWAIT))
        #expect(newest < 0 && errno == EAGAIN, "the newest held connection was closed before the stop got in")
        server.finish(exitCode: 0, powerOff: true)
        #expect(eventually(timeout: .seconds(5)) { result.value != nil })
        #expect(try result.value?.get() == .exited(code: 0, powerOff: true))
    }

    @Test func theClientNamesEachWayItFails() throws {
        // Nothing listens.
        #expect(throws: ControlClient.Failure.unreachable(endpoint, errno: ENOENT)) { try ControlClient(endpoint: endpoint).stop(timeout: .seconds(2)) }
        // A listener that never answers: a timeout, not acknowledged.
        let listener = try BlockingSocket.listen(unixPath: socketPath) // accepts into its backlog, never answers
        let start = ContinuousClock.now
        #expect(throws: ControlClient.Failure.timedOut(.seconds(1), acknowledged: false)) { try ControlClient(endpoint: endpoint).stop(timeout: .seconds(1)) }
        #expect(ContinuousClock.now - start < .seconds(5))
        _ = listener
    }
}

private final class StopCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var stops = 0
    func count() { lock.withLock { stops += 1 } }
    var value: Int { lock.withLock { stops } }
}

private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<ControlClient.Stopped, any Error>?
    func set(_ value: Result<ControlClient.Stopped, any Error>) { lock.withLock { result = value } }
    var value: Result<ControlClient.Stopped, any Error>? { lock.withLock { result } }
}
