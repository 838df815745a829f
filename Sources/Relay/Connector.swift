import Addressing
import BootConfig
import Glibc
import NIOCore
import Services
import NIOPosix

/// Socket settings of both sides of every relayed connection: Services' BulkSocketOptions,
/// measured with the relay.
enum RelaySocketOptions {
    static let receiveAllocator = BulkSocketOptions.receiveAllocator
    static let writeWatermark = BulkSocketOptions.writeWatermark
    static let unixSocketBuffer = SocketOptionValue(BulkSocketOptions.unixSocketBuffer)
}

/// Connects to a target (with the vsock emulation applied) on a given event loop.
enum Connector {
    /// A lookup runs on `lookups` (it blocks), then its candidates are dialled one after the
    /// other, each with `timeout`, until one answers. `skipped` hears of each candidate that
    /// failed before another answered.
    static func connect(to lookup: TargetLookup, on eventLoop: EventLoop, timeout: TimeAmount,
                        emulation: VsockEmulation?, lookups: BlockingPool.Lane,
                        skipped: @escaping @Sendable (Endpoint, Error) -> Void = { _, _ in }) -> EventLoopFuture<Channel> {
        lookups.run(on: eventLoop) { try lookup.candidates() }
            .flatMap { candidates in
                firstAnswering(candidates[...], failures: [], on: eventLoop, timeout: timeout, emulation: emulation)
            }
            .map { channel, failures in
                for (endpoint, error) in failures { skipped(endpoint, error) }
                return channel
            }
    }

    private static func firstAnswering(_ candidates: ArraySlice<Endpoint>, failures: [(endpoint: Endpoint, error: Error)],
                                       on eventLoop: EventLoop, timeout: TimeAmount,
                                       emulation: VsockEmulation?) -> EventLoopFuture<(Channel, [(endpoint: Endpoint, error: Error)])> {
        guard let candidate = candidates.first else {
            return eventLoop.makeFailedFuture(RelayError.unreachable(attempts: failures))
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
        return RelayError.shortages.contains(error.errnoCode)
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
        case .tcp: bootstrap = bootstrap.channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
        case .unix:
            bootstrap = bootstrap
                .channelOption(ChannelOptions.socketOption(.so_sndbuf), value: RelaySocketOptions.unixSocketBuffer)
                .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: RelaySocketOptions.unixSocketBuffer)
        case .vsock: break
        }
        do {
            return try bootstrap.connect(target)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }
}
