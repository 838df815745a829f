import Addressing
import Glibc
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Services

/// The parent half of `clock`: listens on clock.vsock_port and answers every 8-byte request
/// with this machine's CLOCK_REALTIME, read when the request is handled. The enclave is not
/// trusted either: a connection that does not read its answers is not read from until it does
/// (so it cannot make the parent buffer), and requests cost no allocation beyond their answer.
public final class ClockServer: Service, Sendable {
    public let listen: ListenAddress
    private let logger: Logger
    private let emulation: VsockEmulation?
    private let channel = NIOLockedValueBox<Channel?>(nil)
    private let accepted = AcceptedChannels()

    public init(listen: ListenAddress, emulation: VsockEmulation?, logger: Logger) {
        self.listen = listen
        self.emulation = emulation
        self.logger = logger
    }

    public var listening: [Listening] {
        [Listening("clock \(listen) -> this machine's CLOCK_REALTIME", address: listen, emulation: emulation)]
    }

    /// Listens (with the vsock emulation applied); throws if it cannot.
    public func start() throws {
        let bound = try ServerBootstrap(group: EventLoops.one())
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [accepted] channel in
                accepted.track(channel)
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ClockAnswerHandler())
                }
            }
            .bind(listen.emulated(by: emulation)).wait()
        channel.withLockedValue { $0 = bound }
    }

    public func stop() {
        if let channel = channel.withLockedValue({ $0 }) { try? channel.close().wait() }
        accepted.closeAll()
    }

    /// This machine's CLOCK_REALTIME.
    static func now() -> ClockWire.Timestamp {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return ClockWire.Timestamp(seconds: Int64(now.tv_sec), nanoseconds: UInt32(now.tv_nsec))
    }
}

/// One connection: requests in, answers out, reading paused while the peer does not read.
private final class ClockAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Less than one request: what arrived of the next one.
    private var partial: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        while buffer.readableBytes > 0 {
            let take = min(ClockWire.requestLength - partial.count, buffer.readableBytes)
            partial += buffer.readBytes(length: take) ?? []
            guard partial.count == ClockWire.requestLength, let sequence = ClockWire.sequence(ofRequest: partial) else { continue }
            partial.removeAll(keepingCapacity: true)
            let answer = ClockWire.answer(sequence: sequence, time: ClockServer.now())
            context.write(wrapOutboundOut(context.channel.allocator.buffer(bytes: answer)), promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        if !context.channel.isWritable {
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
