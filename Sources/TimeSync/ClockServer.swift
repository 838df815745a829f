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
    public var listen: ListenAddress { listener.address }
    private let logger: Logger
    private let listener: SocketListener

    public init(listen: ListenAddress, emulation: VsockEmulation?, logger: Logger) {
        self.logger = logger
        listener = SocketListener(listen, emulation: emulation)
    }

    public var listening: [Listening] { [listener.listening("clock \(listen) -> this machine's CLOCK_REALTIME")] }

    /// Listens (with the vsock emulation applied); throws if it cannot.
    public func start() throws {
        try listener.start { channel in try channel.pipeline.syncOperations.addHandler(ClockAnswerHandler()) }
    }

    public func stop() { listener.stop() }

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
