import NIOCore

/// Holds what a side delivers before the relay is wired: with autoRead off nothing is read,
/// except that NIO reads out a socket whose peer half-closed (its EOF notification). A client
/// that writes its request and shuts down its output at once would lose the request to the
/// pipeline's tail while the target is still being looked up or dialled. This keeps those
/// bytes and the EOF (bounded by the socket's receive buffer) and hands them to the splice
/// engine, which writes them first.
final class EarlyInboundBuffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var held: [ByteBuffer] = []
    private var heldEOF = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        held.append(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            heldEOF = true
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Hands over what was held (to the splice engine, which writes it first).
    func take() -> (bytes: [UInt8], eof: Bool) {
        var bytes: [UInt8] = []
        for buffer in held { bytes.append(contentsOf: buffer.readableBytesView) }
        defer { held.removeAll(); heldEOF = false }
        return (bytes, heldEOF)
    }

    /// Passes on what was held, in order, to the handlers after this one, then leaves the pipeline.
    func release(context: ChannelHandlerContext) {
        for buffer in held { context.fireChannelRead(wrapInboundOut(buffer)) }
        if !held.isEmpty { context.fireChannelReadComplete() }
        held.removeAll()
        if heldEOF { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        heldEOF = false
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Puts `reader` where the early buffer is, fed first with what the buffer held (bytes,
    /// EOF), and a fresh buffer after it for what follows: a handler added in front of the
    /// buffer instead would miss input that arrived before it (NIO reads a half-closed socket
    /// out even with autoRead off).
    func addHandlerReplayingEarlyInput(_ reader: ChannelHandler) throws {
        let bufferContext = try context(handlerType: EarlyInboundBuffer.self)
        try addHandler(reader, position: .after(bufferContext.handler))
        try addHandler(EarlyInboundBuffer(), position: .after(reader))
        (bufferContext.handler as! EarlyInboundBuffer).release(context: bufferContext)
    }

    /// What the early buffer held (bytes, EOF), taken out of it.
    func takeEarlyInput() throws -> (bytes: [UInt8], eof: Bool) {
        try (context(handlerType: EarlyInboundBuffer.self).handler as! EarlyInboundBuffer).take()
    }
}
