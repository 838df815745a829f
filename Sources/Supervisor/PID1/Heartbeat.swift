import CSupport
import Glibc

/// The "enclave booted" signal nitro-cli waits for: connect to the parent's vsock port (9000),
/// send 0xB7, read 0xB7 back. Without it nitro-cli reports a failed boot and ends the enclave.
public enum HeartbeatSender {
    public static let byte: UInt8 = 0xB7
    public static let timeoutMilliseconds: Int32 = 5000

    public enum Target: Sendable, CustomStringConvertible {
        case vsock(cid: UInt32, port: UInt32)
        /// The Unix-socket emulation of vsock (tests, laptops).
        case unix(path: String)

        public var description: String {
            switch self {
            case .vsock(let cid, let port): return "vsock:\(cid):\(port)"
            case .unix(let path): return "unix:\(path)"
            }
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func send(to target: Target) throws(Failure) {
        let fd: Int32
        switch target {
        case .vsock(let cid, let port): fd = ei_connect_vsock(cid, port, timeoutMilliseconds)
        case .unix(let path): fd = ei_connect_unix(path, timeoutMilliseconds)
        }
        guard fd >= 0 else { throw Failure(description: "heartbeat: cannot connect to \(target): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var out = byte
        guard write(fd, &out, 1) == 1 else {
            throw Failure(description: "heartbeat: cannot write to \(target): \(String(cString: strerror(errno)))")
        }
        var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var ready: Int32
        repeat { ready = poll(&waiting, 1, timeoutMilliseconds) } while ready < 0 && errno == EINTR
        guard ready > 0 else { throw Failure(description: "heartbeat: no answer from \(target) within \(timeoutMilliseconds) ms") }
        var answer: UInt8 = 0
        let count = read(fd, &answer, 1)
        guard count == 1, answer == byte else {
            let got = count == 1 ? "0x" + String(answer, radix: 16, uppercase: true) : "end of stream"
            throw Failure(description: "heartbeat: \(target) answered \(got) instead of 0xB7")
        }
    }
}

/// Where this process stands among PID namespaces.
public enum PIDNamespace {
    /// The inode the kernel gives the initial PID namespace (PROC_PID_INIT_INO), fixed since Linux 3.8.
    static let initialNamespaceInode: UInt = 0xEFFF_FFFC

    /// True only for the real init of a machine: PID 1 of the initial PID namespace. Two checks,
    /// both required, because a false yes would send a namespace's test init to real vsock:
    /// our PID namespace is the initial one, and NSpid in /proc/self/status has a single entry.
    /// (NSpid alone is not enough: a /proc mounted inside the namespace lists only its own level.)
    public static var isInitialNamespaceInit: Bool {
        guard getpid() == 1 else { return false }
        var info = stat()
        guard stat("/proc/self/ns/pid", &info) == 0, UInt(info.st_ino) == initialNamespaceInode else { return false }
        guard let status = readSmallFile("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("NSpid:") }) else { return false }
        return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).count == 2
    }
}
