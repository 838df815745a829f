import Addressing
import Glibc

/// The parent's end of the control port (`enclave-init parent stop`): connects, sends `stop`,
/// and waits for the enclave's last line or for the connection to close. Blocking and single
/// threaded: it is a short-lived command, and the enclave is untrusted, so every read has a
/// deadline and a line-length bound.
public struct ControlClient: Sendable {
    public let endpoint: Endpoint
    public var connectTimeout: Duration = .seconds(3)

    public init(endpoint: Endpoint) {
        self.endpoint = endpoint
    }

    /// How a stop ended, when it did.
    public enum Stopped: Sendable, Equatable {
        /// The enclave said its exit code before closing.
        case exited(code: Int32, powerOff: Bool)
        /// It closed the connection after `stopping` without the last line (a power-off that
        /// took the connection with it).
        case closed
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// Nothing listens there (or the enclave is not running).
        case unreachable(Endpoint, errno: Int32)
        /// No end within the timeout; `acknowledged`: the enclave did say `stopping`.
        case timedOut(Duration, acknowledged: Bool)
        /// The enclave answered with an error line.
        case refused(String)
        /// Something that is not the control protocol, or a close before any answer.
        case protocolViolation(String)

        public var description: String {
            switch self {
            case .unreachable(let endpoint, let code):
                return "cannot reach the enclave's control port at \(endpoint): \(String(cString: strerror(code))) (is the enclave running, with \"control\" in its boot JSON?)"
            case .timedOut(let timeout, let acknowledged):
                return acknowledged
                    ? "the enclave said it is stopping but did not finish within \(timeout.components.seconds) s (its app may ignore SIGTERM; it is killed after shutdown.grace_seconds)"
                    : "the enclave did not answer `stop` within \(timeout.components.seconds) s"
            case .refused(let reason): return "the enclave refused: \(reason)"
            case .protocolViolation(let what): return "the control port's answer is not enclave-init's: \(what)"
            }
        }
    }

    /// Sends `stop` and waits until `timeout` has passed since the call. `progress` hears each
    /// answer as it arrives (`stopping`, then the last line).
    public func stop(timeout: Duration, progress: (ControlProtocol.Answer) -> Void = { _ in }) throws(Failure) -> Stopped {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        let fd = endpoint.connectBlocking(timeoutMilliseconds: Int32(milliseconds(min(connectTimeout, timeout))))
        guard fd >= 0 else { throw .unreachable(endpoint, errno: errno) }
        defer { close(fd) }
        let command = Array("\(ControlProtocol.stopCommand)\n".utf8)
        guard command.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == command.count else {
            throw .unreachable(endpoint, errno: errno)
        }
        var lines = LineReader(fd: fd)
        var acknowledged = false
        while true {
            let line: String?
            switch lines.next(until: deadline, clock: clock) {
            case .line(let text): line = text
            case .closed: line = nil
            case .timedOut: throw .timedOut(timeout, acknowledged: acknowledged)
            case .tooLong: throw .protocolViolation("a line over \(ControlProtocol.maximumAnswerLength) bytes")
            }
            guard let line else {
                if acknowledged { return .closed }
                throw .protocolViolation("the connection closed without an answer")
            }
            guard let answer = ControlProtocol.Answer(line: line) else {
                throw .protocolViolation("\"\(line.prefix(80))\"")
            }
            progress(answer)
            switch answer {
            case .stopping: acknowledged = true
            case .shutdown(let code, let powerOff): return .exited(code: code, powerOff: powerOff)
            case .error(let reason): throw .refused(reason)
            }
        }
    }
}

/// Newline-separated lines from a blocking socket, each read bounded by a deadline.
private struct LineReader {
    let fd: Int32
    private var pending: [UInt8] = []
    private var closed = false

    init(fd: Int32) { self.fd = fd }

    enum Next { case line(String), closed, timedOut, tooLong }

    mutating func next(until deadline: ContinuousClock.Instant, clock: ContinuousClock) -> Next {
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                return .line(line)
            }
            if pending.count > ControlProtocol.maximumAnswerLength { return .tooLong }
            if closed { return .closed }
            let left = deadline - clock.now
            guard left > .zero else { return .timedOut }
            var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&waiting, 1, Int32(max(1, min(milliseconds(left), 60_000))))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue } // the loop re-checks the deadline
            var chunk = [UInt8](repeating: 0, count: 1024)
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                pending += chunk[0..<count]
            } else if count == 0 || errno != EINTR {
                closed = true // EOF, or a reset: the enclave is gone either way
            }
        }
    }
}

private func milliseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
}
