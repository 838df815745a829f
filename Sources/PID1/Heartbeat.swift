import Addressing
import CSupport
import Glibc

/// The "enclave booted" signal nitro-cli waits for: connect to the parent's vsock port (9000),
/// send 0xB7, read 0xB7 back. Without it nitro-cli reports a failed boot and ends the enclave.
public enum HeartbeatSender {
    public static let byte: UInt8 = 0xB7
    public static let timeoutMilliseconds: Int32 = 5000

    /// `target` is the parent's vsock port, or its Unix-socket emulation.
    public static func send(to target: Endpoint) throws(PID1Error) {
        let fd = target.connectBlocking(timeoutMilliseconds: timeoutMilliseconds)
        guard fd >= 0 else { throw .heartbeatConnect(target, errno: errno) }
        defer { close(fd) }
        var out = byte
        guard write(fd, &out, 1) == 1 else {
            throw .heartbeatWrite(target, errno: errno)
        }
        var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&waiting, 1, timeoutMilliseconds) } while ready < 0 && errno == EINTR
        guard ready > 0 else { throw .heartbeatNoAnswer(target, milliseconds: timeoutMilliseconds) }
        var answer: UInt8 = 0
        let count = read(fd, &answer, 1)
        guard count == 1, answer == byte else {
            throw .heartbeatWrongAnswer(target, byte: count == 1 ? answer : nil)
        }
    }
}
