import Glibc
import NIOCore

/// Joins two channels into one byte pipe, each direction independent.
///
/// - Bytes read on one side are written to the other, in order, never buffered beyond the
///   partner's write watermark: a side is read only while its partner is writable, so a slow
///   reader stalls its writer instead of growing memory.
/// - EOF on one side becomes shutdown(SHUT_WR) on the other once its pending writes are out;
///   the other direction keeps flowing. When both directions have ended, both channels close.
/// - An error (a reset) on one side closes the other at once, with a reset of its own.
final class GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var inputClosed = false
    private var outputClosed = false
    private let countBytes: @Sendable (Int) -> Void

    private init(countBytes: @escaping @Sendable (Int) -> Void) {
        self.countBytes = countBytes
    }

    /// Two handlers that feed each other; add one to each channel's pipeline. Each counts the
    /// bytes its own side reads.
    static func matchedPair(countFirst: @escaping @Sendable (Int) -> Void,
                            countSecond: @escaping @Sendable (Int) -> Void) -> (GlueHandler, GlueHandler) {
        let first = GlueHandler(countBytes: countFirst)
        let second = GlueHandler(countBytes: countSecond)
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    // MARK: - Inbound: what this side's peer sent

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        countBytes(buffer.readableBytes)
        partner?.partnerWrite(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputClosed = true
            partner?.partnerEndOutput()
            if outputClosed { context.close(promise: nil) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerClose(abort: false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        partner?.partnerClose(abort: true)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.partnerBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Outbound: reading is gated on the partner's writability

    func read(context: ChannelHandlerContext) {
        if partner?.isWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }

    // MARK: - Called by the partner

    private var isWritable: Bool { context?.channel.isWritable ?? false }

    private func partnerWrite(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    /// The partner's peer sent EOF: pass it on once what we still have to write is written.
    private func partnerEndOutput() {
        guard let context, !outputClosed else { return }
        outputClosed = true
        if inputClosed {
            closeAfterPendingWrites(context)
        } else {
            context.close(mode: .output, promise: nil) // NIO shuts down after pending writes
        }
    }

    /// The partner is gone: after an error, reset this side now; otherwise let our pending
    /// writes out first (they are bytes the partner's peer sent before it closed).
    private func partnerClose(abort: Bool) {
        guard let context else { return }
        if abort {
            // SO_LINGER 0: close sends a reset, as the other side's peer did.
            let channel = context.channel
            if let provider = channel as? SocketOptionProvider {
                provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
            } else {
                channel.close(promise: nil)
            }
        } else {
            closeAfterPendingWrites(context)
        }
    }

    /// A zero-length write completes after every write queued before it.
    private func closeAfterPendingWrites(_ context: ChannelHandlerContext) {
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
