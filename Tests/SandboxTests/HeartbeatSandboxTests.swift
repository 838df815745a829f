import Foundation
import Testing
import TestSupport

/// The heartbeat against a Unix-socket listener playing the parent (vsock emulated with
/// ENCLAVE_INIT_VSOCK_DIR): the real byte exchange, and `auto` never firing in a namespace.
@Suite(.serialized) struct HeartbeatSandboxTests {
    /// A one-connection parent stand-in on DIR/3-9000 that records the byte it gets and answers.
    final class FakeParent: @unchecked Sendable {
        let socketPath: String
        private let fd: Int32
        private let answer: UInt8
        private(set) var received: [UInt8] = []
        private let done = DispatchSemaphore(value: 0)
        private let byteArrived = DispatchSemaphore(value: 0)

        private let delay: useconds_t

        init(directory: String, answer: UInt8 = 0xB7, delayMilliseconds: Int = 0) throws {
            socketPath = directory + "/3-9000"
            self.answer = answer
            self.delay = useconds_t(delayMilliseconds * 1000)
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                _ = socketPath.utf8CString.withUnsafeBytes { buffer.copyBytes(from: $0.prefix(buffer.count - 1)) }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0, listen(fd, 1) == 0 else { throw POSIXError(.EADDRINUSE) }
            DispatchQueue.global().async { self.serveOne() }
        }

        private func serveOne() {
            var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&waiting, 1, 10_000) > 0 {
                let connection = accept(fd, nil, nil)
                var byte: UInt8 = 0
                if connection >= 0, read(connection, &byte, 1) == 1 {
                    received.append(byte)
                    byteArrived.signal()
                    usleep(delay)
                    var reply = answer
                    _ = write(connection, &reply, 1)
                }
                close(connection)
            }
            done.signal()
        }

        /// True once the heartbeat byte has arrived (before any answer delay).
        func receivedByte(within timeout: DispatchTime) -> Bool { byteArrived.wait(timeout: timeout) == .success }

        func connected(within timeout: DispatchTime) -> Bool { done.wait(timeout: timeout) == .success && !received.isEmpty }

        deinit { close(fd) }
    }

    @Test(arguments: Sandbox.Mode.allCases)
    func enabledHeartbeatExchangesTheByteWithTheParent(_ mode: Sandbox.Mode) throws {
        let scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
        let parent = try FakeParent(directory: scratch.path)
        let config = try scratch.write("boot.json", #"{"version": 1, "heartbeat": {"enabled": true}}"#)
        let process = try Sandbox.start(mode, ["--config", config, "--", "/bin/true"], environment: ["ENCLAVE_INIT_VSOCK_DIR": scratch.path])
        let result = process.wait(timeout: .seconds(10))
        #expect(parent.connected(within: .now() + 5))
        #expect(parent.received == [0xB7])
        #expect(result?.stderr.contains("pid-1: heartbeat to unix:\(parent.socketPath) answered") == true, "\(result?.stderr ?? "")")
        Sandbox.expectEnded(result, mode, withCode: 0)
    }

    @Test func aWrongAnswerIsLoggedAndTheAppStillRuns() throws {
        let scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
        let parent = try FakeParent(directory: scratch.path, answer: 0x00)
        let config = try scratch.write("boot.json", #"{"version": 1, "heartbeat": {"enabled": true}}"#)
        let process = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", "exit 4"], environment: ["ENCLAVE_INIT_VSOCK_DIR": scratch.path])
        let result = process.wait(timeout: .seconds(10))
        #expect(parent.connected(within: .now() + 5))
        #expect(result?.stderr.contains("answered 0x0 instead of 0xB7") == true, "\(result?.stderr ?? "")")
        Sandbox.expectEnded(result, .pid1, withCode: 4)
    }

    @Test func missingParentIsLoggedAndTheAppStillRuns() throws {
        let scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
        let config = try scratch.write("boot.json", #"{"version": 1, "heartbeat": {"enabled": true, "port": 9999}}"#)
        let process = try Sandbox.start(.subreaper, ["--config", config, "--", "/bin/true"], environment: ["ENCLAVE_INIT_VSOCK_DIR": scratch.path])
        let result = process.wait(timeout: .seconds(10))
        #expect(result?.stderr.contains("heartbeat: cannot connect to unix:\(scratch.path)/3-9999: No such file or directory") == true)
        Sandbox.expectEnded(result, .subreaper, withCode: 0)
    }

    /// `auto` is for the enclave's own init only: PID 1 of a test namespace must not send it.
    @Test(arguments: Sandbox.Mode.allCases)
    func autoHeartbeatNeverFiresInANamespace(_ mode: Sandbox.Mode) throws {
        let scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
        let parent = try FakeParent(directory: scratch.path)
        let config = try scratch.write("boot.json", #"{"version": 1}"#)
        let process = try Sandbox.start(mode, ["--config", config, "--", "/bin/true"], environment: ["ENCLAVE_INIT_VSOCK_DIR": scratch.path])
        let result = process.wait(timeout: .seconds(10))
        Sandbox.expectEnded(result, mode, withCode: 0)
        #expect(!parent.connected(within: .now() + 0.3))
        #expect(result?.stderr.contains("heartbeat") == false)
    }

    /// A slow parent holds the boot in the heartbeat step; a signal sent meanwhile waits, blocked,
    /// and reaches the app once it runs (SIGUSR1's default action ends it: 128+10).
    @Test func aSignalDuringTheBootReachesTheAppOnceItRuns() throws {
        let scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
        let parent = try FakeParent(directory: scratch.path, delayMilliseconds: 700)
        let config = try scratch.write("boot.json", #"{"version": 1, "heartbeat": {"enabled": true}}"#)
        let process = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sleep", "30"], environment: ["ENCLAVE_INIT_VSOCK_DIR": scratch.path])
        let initPID = try #require(Sandbox.initPID(of: process, .pid1))
        #expect(parent.receivedByte(within: .now() + 5))
        kill(initPID, SIGUSR1) // the boot is waiting for the answer, 700 ms away
        #expect(!process.stderrSoFar.contains("app: started"))
        let result = process.wait(timeout: .seconds(10))
        Sandbox.expectEnded(result, .pid1, withCode: 138)
        #expect(result?.stderr.contains("forwarded SIGUSR1") == true, "\(result?.stderr ?? "")")
    }
}
