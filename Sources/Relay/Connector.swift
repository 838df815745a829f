import BootConfig
import Glibc
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
    /// Unix sockets (the vsock emulation) get 1 MiB socket buffers: the kernel's default
    /// (wmem_default, about 208 KiB in flight) made every relay hop wake up five times as often;
    /// measured with `VARIANTS=enclave-init:enclave-init scripts/bench relay`: 10.7-11.4 Gb/s
    /// before, 12.5-13.3 after. Real vsock keeps the kernel's vsock buffer size.
    static let unixSocketBuffer: SocketOptionValue = 1 << 20
}

/// Why no candidate of a looked-up target could be reached: every attempt, in order.
struct DialFailure: Error, CustomStringConvertible {
    var attempts: [(endpoint: Endpoint, error: Error)]

    var description: String {
        attempts.map { "\($0.endpoint): \(DialErrorText.describe($0.error))" }.joined(separator: "; ")
    }
}

/// Connects to a target (with the vsock emulation applied) on a given event loop.
enum Connector {
    /// A fixed endpoint is dialled at once; a lookup runs on `lookups` (it blocks), then its
    /// candidates are dialled one after the other, each with `timeout`, until one answers.
    /// `skipped` hears of each candidate that failed before another answered.
    static func connect(to target: RelayTarget, on eventLoop: EventLoop, timeout: TimeAmount,
                        emulation: VsockEmulation?, lookups: NIOThreadPool,
                        skipped: @escaping @Sendable (Endpoint, Error) -> Void = { _, _ in }) -> EventLoopFuture<Channel> {
        switch target {
        case .endpoint(let endpoint):
            return connect(to: endpoint, on: eventLoop, timeout: timeout, emulation: emulation)
        case .egress:
            // Each egress connection names its own destination (EgressSession dials it).
            return eventLoop.makeFailedFuture(DialFailure(attempts: []))
        case .lookup(let lookup):
            return lookups.runIfActive(eventLoop: eventLoop) { try lookup.candidates() }
                .flatMap { candidates in
                    firstAnswering(candidates[...], failures: [], on: eventLoop, timeout: timeout, emulation: emulation)
                }
                .map { channel, failures in
                    for (endpoint, error) in failures { skipped(endpoint, error) }
                    return channel
                }
        }
    }

    private static func firstAnswering(_ candidates: ArraySlice<Endpoint>, failures: [(endpoint: Endpoint, error: Error)],
                                       on eventLoop: EventLoop, timeout: TimeAmount,
                                       emulation: VsockEmulation?) -> EventLoopFuture<(Channel, [(endpoint: Endpoint, error: Error)])> {
        guard let candidate = candidates.first else {
            return eventLoop.makeFailedFuture(DialFailure(attempts: failures))
        }
        return connect(to: candidate, on: eventLoop, timeout: timeout, emulation: emulation)
            .map { ($0, failures) }
            .flatMapError { error in
                firstAnswering(candidates.dropFirst(), failures: failures + [(candidate, error)], on: eventLoop,
                               timeout: timeout, emulation: emulation)
            }
    }

    /// Out of descriptors (EMFILE, ENFILE) or kernel memory is a shortage of ours, not an
    /// answer from the target: the socket is tried again every 50 ms until `timeout`, so a
    /// connection accepted while others are closing still gets through.
    static func connect(to endpoint: Endpoint, on eventLoop: EventLoop, timeout: TimeAmount,
                        emulation: VsockEmulation?) -> EventLoopFuture<Channel> {
        let deadline = NIODeadline.now() + timeout
        @Sendable func attempt() -> EventLoopFuture<Channel> {
            dial(endpoint, on: eventLoop, timeout: deadline - .now(), emulation: emulation).flatMapError { error in
                let retryAt = NIODeadline.now() + .milliseconds(50)
                guard isLocalShortage(error), retryAt < deadline else { return eventLoop.makeFailedFuture(error) }
                return eventLoop.scheduleTask(deadline: retryAt) {}.futureResult.flatMap { attempt() }
            }
        }
        return attempt()
    }

    static func isLocalShortage(_ error: Error) -> Bool {
        guard let error = error as? IOError else { return false }
        return [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode)
    }

    private static func dial(_ endpoint: Endpoint, on eventLoop: EventLoop, timeout: TimeAmount,
                             emulation: VsockEmulation?) -> EventLoopFuture<Channel> {
        let target = emulation?.emulate(connectingTo: endpoint) ?? endpoint
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(ChannelOptions.autoRead, value: false) // until the relay is wired
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EarlyInboundBuffer())
                }
            }
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelOption(ChannelOptions.recvAllocator, value: RelaySocketOptions.receiveAllocator)
            .channelOption(ChannelOptions.writeBufferWaterMark, value: RelaySocketOptions.writeWatermark)
        switch target {
        case .tcp(let host, let port):
            bootstrap = bootstrap.channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            do {
                // Numeric only: names were resolved by a lookup target before this point.
                return bootstrap.connect(to: try SocketAddress(ipAddress: host, port: Int(port)))
            } catch {
                return eventLoop.makeFailedFuture(error)
            }
        case .unix(let path):
            return bootstrap
                .channelOption(ChannelOptions.socketOption(.so_sndbuf), value: RelaySocketOptions.unixSocketBuffer)
                .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: RelaySocketOptions.unixSocketBuffer)
                .connect(unixDomainSocketPath: path)
        case .vsock(let cid, let port):
            return bootstrap.connect(to: VsockAddress(cid: .init(rawValue: cid), port: .init(rawValue: port)))
        }
    }
}
