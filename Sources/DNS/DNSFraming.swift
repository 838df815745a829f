import NIOCore

/// DNS over TCP (RFC 1035 4.2.2, RFC 7766): each message behind its length in two bytes. Used
/// by the stub's TCP listener and on the vsock channel between the halves.
struct DNSFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              buffer.readableBytes >= 2 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        let message = buffer.readBytes(length: Int(length)) ?? []
        context.fireChannelRead(wrapInboundOut(message))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear() // a partial message at EOF is dropped
        return .needMoreData
    }
}

extension ByteBuffer {
    /// `message` behind its two-byte length (at most 65,535 bytes: the caller checks).
    static func dnsFrame(_ message: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: message.count + 2)
        buffer.writeDNSFrame(message)
        return buffer
    }

    mutating func writeDNSFrame(_ message: [UInt8]) {
        writeInteger(UInt16(message.count))
        writeBytes(message)
    }
}

/// Framed queries on one TCP connection (a client of the stub, or the enclave at the parent),
/// answered as they complete (RFC 7766 allows any order). At most `limit` are being answered
/// at once; beyond that a query gets SERVFAIL at once, so one connection cannot queue work
/// without bound.
final class FramedQueryHandler: ChannelInboundHandler {
    typealias InboundIn = [UInt8]
    typealias Answer = @Sendable (_ query: [UInt8], _ on: EventLoop) -> EventLoopFuture<[UInt8]?>
    private let limit: Int
    private let answer: Answer
    private let counters: DNSCounters
    private var inFlight = 0

    init(limit: Int, counters: DNSCounters, answer: @escaping Answer) {
        self.limit = limit
        self.counters = counters
        self.answer = answer
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        let channel = context.channel
        guard inFlight < limit else {
            if case .success(let query) = DNSMessage.parse(bytes), !query.isResponse {
                counters.count(\.serverFailures)
                channel.writeAndFlush(ByteBuffer.dnsFrame(query.reply(.serverFailure), allocator: channel.allocator), promise: nil)
            }
            return
        }
        inFlight += 1
        let loop = context.eventLoop
        // The answer completes on this channel's loop; NIOLoopBound checks that, as the count needs.
        let handler = NIOLoopBound(self, eventLoop: loop)
        answer(bytes, loop).whenSuccess { answer in
            handler.value.inFlight -= 1
            guard let answer else { return }
            channel.writeAndFlush(ByteBuffer.dnsFrame(answer, allocator: channel.allocator), promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
