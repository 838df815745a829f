import Logging
import NIOCore
import NIOPosix
import Addressing
import Services

/// The enclave end of one stream: connects to the parent's listener, says hello, writes every
/// record the parent has not acknowledged, and frees them as acknowledgements arrive. Staying
/// connected is the persistent `ReconnectingLink`'s (Services): when the parent is not there,
/// or goes, it retries with a backoff (100 ms doubling to 2 s) and this resends from the last
/// acknowledged record. Writing stops while the connection is not writable, so a slow parent
/// costs memory only up to the buffer's budget. All state lives on the link's loop.
final class StreamSender: @unchecked Sendable {
    let kind: StreamKind
    let target: Endpoint
    let buffer: RecordBuffer
    private let bootID: String
    private var link: ReconnectingLink<Never>!
    // On the link's loop only:
    private var sentUpTo: UInt64 = 0

    static let firstRetry: Duration = .milliseconds(100)
    static let maximumRetry: Duration = .seconds(2)
    /// Bytes of records encoded per write.
    static let batchBytes = 64 * 1024

    init(kind: StreamKind, target: Endpoint, buffer: RecordBuffer, bootID: String, emulation: VsockEmulation?,
         eventLoop: EventLoop, logger: Logger) {
        self.kind = kind
        self.target = target
        self.buffer = buffer
        self.bootID = bootID
        // The records wait in `buffer`, never in the link's queue (it holds nothing).
        link = ReconnectingLink(
            settings: .init(name: "\(kind.rawValue) stream", target: emulation?.emulate(connectingTo: target) ?? target,
                            targetDescription: "\(target)", mode: .persistent(firstRetry: Self.firstRetry, maximumRetry: Self.maximumRetry),
                            bounds: .init(items: 0, bytes: 0), whileAway: "buffering and retrying"),
            eventLoop: eventLoop, logger: logger,
            client: .init(pipeline: { [unowned self] channel in
                              try channel.pipeline.syncOperations.addHandler(AcknowledgementHandler(sender: self))
                          },
                          encode: { _, _ in },
                          connected: { [unowned self] channel in connected(channel) }))
    }

    func start() {
        buffer.onAppend { [self] in link.eventLoop.execute { self.pump() } }
        link.start()
    }

    /// Closes the connection and stops retrying; what is unacknowledged stays unsent.
    func stop() -> EventLoopFuture<Void> { link.stop() }

    // MARK: - On the event loop

    private func connected(_ channel: Channel) {
        sentUpTo = buffer.lastAcknowledged
        channel.write(ByteBuffer(string: StreamProtocol.hello(kind: kind, boot: bootID)), promise: nil)
        pump()
    }

    /// Writes batches while the connection takes them.
    fileprivate func pump() {
        guard let channel = link.channel, channel.isActive else { return }
        var wrote = false
        while channel.isWritable {
            let records = buffer.take(after: sentUpTo, maxBytes: Self.batchBytes)
            guard let last = records.last else { break }
            var out = channel.allocator.buffer(capacity: Self.batchBytes + 4096)
            for record in records { record.encode(into: &out) }
            channel.write(out, promise: nil)
            sentUpTo = last.seq
            wrote = true
        }
        if wrote { channel.flush() }
    }

    fileprivate func acknowledged(_ seq: UInt64) {
        buffer.acknowledge(upTo: seq)
    }
}

/// Reads the parent's `{"ack":N}` lines and tells the sender about writability (the link's own
/// handler, after this one, hears the end).
private final class AcknowledgementHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let sender: StreamSender
    private var framer = LineFramer(maximum: 4096)

    init(sender: StreamSender) {
        self.sender = sender
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        do {
            for line in try framer.lines(in: &bytes) {
                if case .ack(let seq) = try StreamProtocol.decode(line.readableBytesView) { sender.acknowledged(seq) }
            }
        } catch {
            context.close(promise: nil) // not our parent half: reconnect and start over
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { sender.pump() }
        context.fireChannelWritabilityChanged()
    }

}
