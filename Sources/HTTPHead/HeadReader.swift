import NIOCore

/// Reads an HTTP head — everything up to the first empty line — off the front of a connection,
/// then hands it over and leaves the pipeline; the bytes after it continue to the next handler
/// untouched (they belong to the relay). A head longer than `limit`, or an EOF or error before
/// the head ends, is reported instead.
public final class HeadReader: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    public enum Outcome {
        case head([UInt8])
        case tooLarge
        case ended
    }

    public static let terminator: [UInt8] = Array("\r\n\r\n".utf8)

    private let limit: Int
    private var buffer: ByteBuffer?
    /// How far the buffer has been searched for the end of the head: a head that arrives a
    /// byte at a time is searched once, not once per byte.
    private var searched = 0
    private var onOutcome: ((Outcome) -> Void)?

    public init(limit: Int, onOutcome: @escaping (Outcome) -> Void) {
        self.limit = limit
        self.onOutcome = onOutcome
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        guard onOutcome != nil else { return context.fireChannelRead(data) }
        if buffer == nil { buffer = incoming } else { buffer!.writeBuffer(&incoming) }
        let view = buffer!.readableBytesView
        let end = RequestHead.endOfHead(in: view, from: max(0, searched - 3))
        searched = view.count
        if let end, end - view.startIndex <= limit {
            let head = Array(view[view.startIndex..<end])
            buffer!.moveReaderIndex(forwardBy: head.count)
            let rest = buffer!
            buffer = nil
            // What follows the head goes on first (into the early buffer behind this reader),
            // so that the outcome's relay, NIO's glue or the splice engine, finds it there.
            if rest.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(rest)) }
            finish(.head(head), context: context)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        } else if view.count > limit {
            buffer = nil
            finish(.tooLarge, context: context)
        }
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, onOutcome != nil {
            finish(.ended, context: context)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if onOutcome != nil { finish(.ended, context: context) }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        if onOutcome != nil { finish(.ended, context: context) }
        context.close(promise: nil)
    }

    private func finish(_ outcome: Outcome, context: ChannelHandlerContext) {
        let report = onOutcome
        onOutcome = nil
        report?(outcome)
    }
}
