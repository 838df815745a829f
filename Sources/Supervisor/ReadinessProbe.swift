import Processes
import BootConfig
import Glibc

/// app.ready: "the app accepts on 127.0.0.1:PORT" or "PATH exists". Checked from the
/// supervisor's loop (it wakes at least every 100 ms; checks are at least 50 ms apart), never
/// blocking it for long: a TCP connect that does not complete at once gets 20 ms.
public struct ReadinessProbe: Sendable, CustomStringConvertible {
    public var probe: Readiness.Probe
    public var timeout: Duration

    public init(_ readiness: Readiness) {
        probe = readiness.probe
        timeout = .seconds(readiness.timeoutSeconds)
    }

    public var description: String {
        switch probe {
        case .tcp(let port): return "tcp 127.0.0.1:\(port)"
        case .file(let path): return "file \(path)"
        }
    }

    public func holds() -> Bool {
        switch probe {
        case .file(let path): return access(path, F_OK) == 0
        case .tcp(let port): return Self.accepts(port: port)
        }
    }

    private static func accepts(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&poller, 1, 20) == 1 else { return false }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0
    }
}
