import Glibc
import NIOCore
import NIOPosix

// The one place that turns an address into a bind or a connect: every listener and dialler
// (relays, streams, the DNS and control channels to come) goes through these, so a new kind
// of address is added here once.

extension ServerBootstrap {
    /// Binds `address` as it is (apply the vsock emulation first: `address.emulated(by:)`). A
    /// stale Unix socket file is replaced; vsock listens on any CID. A device is no socket:
    /// that throws at once.
    public func bind(_ address: ListenAddress) throws -> EventLoopFuture<Channel> {
        switch address {
        case .tcp(let host, let port): return bind(host: host, port: Int(port))
        case .unix(let path):
            guard !ListenAddress.someoneListens(onUnixSocket: path) else {
                throw IOError(errnoCode: EADDRINUSE, reason: "unix:\(path): another process listens there (a second enclave-init on the same ENCLAVE_INIT_VSOCK_DIR?)")
            }
            return bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
        case .vsock(let port): return bind(to: VsockAddress(cid: .any, port: .init(rawValue: port)))
        case .device(let name): throw IOError(errnoCode: EAFNOSUPPORT, reason: "dev:\(name) is a device to read, not a socket to bind")
        }
    }
}

extension ClientBootstrap {
    /// Connects to `endpoint` as it is (apply the vsock emulation first: `emulation.emulate(connectingTo:)`).
    /// TCP hosts must be numeric: the static enclave binary has no resolver (names are resolved
    /// by the parent half's lookups before this point).
    /// Throws at once when a TCP host is not an IP literal.
    public func connect(_ endpoint: Endpoint) throws -> EventLoopFuture<Channel> {
        switch endpoint {
        case .tcp(let host, let port): return connect(to: try SocketAddress(ipAddress: host, port: Int(port)))
        case .unix(let path): return connect(unixDomainSocketPath: path)
        case .vsock(let cid, let port): return connect(to: VsockAddress(cid: .init(rawValue: cid), port: .init(rawValue: port)))
        }
    }
}
