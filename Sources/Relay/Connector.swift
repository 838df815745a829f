import BootConfig
import NIOCore
import NIOPosix

/// Where a relay listens: TCP inside the enclave, vsock (any CID) for ingress, or a Unix socket.
public enum ListenAddress: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: UInt16)
    case vsock(port: UInt32)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let host, let port): return "tcp:" + HostPort(host: host, port: port).description
        case .vsock(let port): return "vsock:any:\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    /// Under the Unix-socket emulation a vsock listener binds DIR/<local cid>-<port>.
    public func emulated(by emulation: VsockEmulation?) -> ListenAddress {
        guard let emulation, case .vsock(let port) = self else { return self }
        return .unix(path: emulation.listenPath(port: port))
    }
}

/// Socket settings shared by both sides of every relayed connection.
enum RelaySocketOptions {
    /// Big reads when the data flows (up to 256 KiB), small ones for idle or chatty connections
    /// (from 16 KiB): memory per open connection stays small.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 16384, maximum: 262_144)
    /// A side stops being read once its partner has this much unwritten: the per-connection
    /// memory bound of each direction (plus one read buffer).
    static let writeWatermark = ChannelOptions.Types.WriteBufferWaterMark(low: 128 * 1024, high: 256 * 1024)
}

/// Connects to an endpoint (with the vsock emulation applied) on a given event loop.
enum Connector {
    static func connect(to endpoint: Endpoint, on eventLoop: EventLoop, timeout: TimeAmount,
                        emulation: VsockEmulation?) -> EventLoopFuture<Channel> {
        let target = emulation?.emulate(connectingTo: endpoint) ?? endpoint
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.autoRead, value: false) // until the relay is wired
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelOption(ChannelOptions.recvAllocator, value: RelaySocketOptions.receiveAllocator)
            .channelOption(ChannelOptions.writeBufferWaterMark, value: RelaySocketOptions.writeWatermark)
        switch target {
        case .tcp(let host, let port):
            bootstrap = bootstrap.channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            do {
                // Numeric only: a static binary has no resolver (names are the parent's job).
                return bootstrap.connect(to: try SocketAddress(ipAddress: host, port: Int(port)))
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
        case .unix(let path):
            return bootstrap.connect(unixDomainSocketPath: path)
        case .vsock(let cid, let port):
            return bootstrap.connect(to: VsockAddress(cid: .init(rawValue: cid), port: .init(rawValue: port)))
        }
    }
}
