import CSupport
import Glibc

/// Where a listener binds: TCP inside the enclave, vsock (any CID) for ingress and the streams,
/// or a Unix socket; or the network device a service reads instead of a socket (egress.udp's
/// TUN device), which is never bound, dialled or emulated.
public enum ListenAddress: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: UInt16)
    case vsock(port: UInt32)
    case unix(path: String)
    case device(name: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): return "tcp:" + HostPort(host: host, port: port).description
        case .vsock(let port): return "vsock:any:\(port)"
        case .unix(let path): return "unix:\(path)"
        case .device(let name): return "dev:\(name)"
        }
    }

    /// Under the Unix-socket emulation a vsock listener binds DIR/<local cid>-<port>.
    public func emulated(by emulation: VsockEmulation?) -> ListenAddress {
        guard let emulation, case .vsock(let port) = self else { return self }
        return .unix(path: emulation.listenPath(port: port))
    }
}

extension ListenAddress {
    /// A blocking listening socket, for the one listener that accepts outside an event loop
    /// (the parent's credentials port, which asks the kernel each peer's CID): a descriptor, or
    /// -1 with errno set. Apply the emulation first. TCP and devices are not offered here.
    public func listenBlocking(backlog: Int32) -> Int32 {
        switch self {
        case .vsock(let port): return ei_listen_vsock(port, backlog)
        case .unix(let path):
            if Self.someoneListens(onUnixSocket: path) {
                errno = EADDRINUSE
                return -1
            }
            return ei_listen_unix(path, backlog)
        case .tcp, .device:
            errno = EAFNOSUPPORT
            return -1
        }
    }
}

extension ListenAddress {
    /// Whether a process still accepts on the Unix socket at `path`. A stale socket file (its
    /// process gone) is replaced when bound; a live one belongs to someone else (a second
    /// parent half, or enclave, on the same ENCLAVE_INIT_VSOCK_DIR) and must not be taken over.
    public static func someoneListens(onUnixSocket path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return false }
        let descriptor = ei_connect_unix(path, 200)
        guard descriptor >= 0 else { return false }
        close(descriptor)
        return true
    }
}
