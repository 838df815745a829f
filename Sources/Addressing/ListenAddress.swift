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
        case .unix(let path): return ei_listen_unix(path, backlog)
        case .tcp, .device:
            errno = EAFNOSUPPORT
            return -1
        }
    }
}
