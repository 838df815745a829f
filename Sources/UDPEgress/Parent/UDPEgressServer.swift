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
    public var listen: ListenAddress { listener.address }
    public let counters = UDPCounters()
    private let listener: SocketListener
    private let settings: ParentUDPSession.Settings
    private let logger: Logger

    public init(listen: ListenAddress, emulation: VsockEmulation?, policy: EgressPolicy, maxFlows: Int, idleSeconds: Int, logger: Logger) {
        listener = SocketListener(listen, emulation: emulation, options: .init(writeBufferWaterMark: .init(low: 256 * 1024, high: 1024 * 1024)))
        // A flow outlives the enclave's idle bound by a little, so that the enclave's close
        // (not this timer) normally ends it.
        settings = ParentUDPSession.Settings(policy: policy, maxFlows: maxFlows, idle: .seconds(Int64(idleSeconds) + 5),
                                             counters: counters, refusals: LogThrottle(), logger: logger)
        self.logger = logger
    }

    public var listening: [Listening] {
        [listener.listening("udp \(listen) -> datagrams from sockets of this machine's own, under the egress policy")]
    }

    public func start() throws {
        try listener.start { [settings] channel in
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(UDPFrameDecoder(receiver: .parent)))
            try channel.pipeline.syncOperations.addHandler(ParentUDPSession(settings: settings))
        }
    }

    public func stop() {
        listener.stop()
        logger.info("\(counters.snapshot)")
    }
}
