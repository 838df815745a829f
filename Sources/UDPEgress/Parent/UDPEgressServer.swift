import Addressing
import LogThrottle
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Policy
import Services

/// egress.udp on the parent: listens on its vsock port for the enclave's datagram stream and
/// serves each connection with a `ParentUDPSession`, which sends each flow's datagrams from a
/// UDP socket of its own after its own checks and carries the answers back.
public final class UDPEgressServer: Service, Sendable {
    public let listen: ListenAddress
    public let counters = UDPCounters()
    private let emulation: VsockEmulation?
    private let settings: ParentUDPSession.Settings
    private let logger: Logger
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    private let accepted = AcceptedChannels()

    public init(listen: ListenAddress, emulation: VsockEmulation?, policy: EgressPolicy, maxFlows: Int, idleSeconds: Int, logger: Logger) {
        self.listen = listen
        self.emulation = emulation
        // A flow outlives the enclave's idle bound by a little, so that the enclave's close
        // (not this timer) normally ends it.
        settings = ParentUDPSession.Settings(policy: policy, maxFlows: maxFlows, idle: .seconds(Int64(idleSeconds) + 5),
                                             counters: counters, refusals: LogThrottle(), logger: logger)
        self.logger = logger
    }

    public var listening: [Listening] {
        [Listening("udp \(listen) -> datagrams from sockets of this machine's own, under the egress policy", address: listen, emulation: emulation)]
    }

    public func start() throws {
        let channel = try ServerBootstrap(group: EventLoops.one())
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelInitializer { [settings, accepted] channel in
                accepted.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(UDPFrameDecoder(receiver: .parent)))
                    try channel.pipeline.syncOperations.addHandler(ParentUDPSession(settings: settings))
                }
            }
            .bind(listen.emulated(by: emulation)).wait()
        serverChannel.withLockedValue { $0 = channel }
    }

    public func stop() {
        if let channel = serverChannel.withLockedValue({ $0 }) { try? channel.close().wait() }
        accepted.closeAll()
        logger.info("\(counters.snapshot)")
    }
}
