import Logging
import NIOCore
import NIOPosix
import Addressing

/// The enclave end of one stream: connects to the parent's listener, says hello, writes every
/// record the parent has not acknowledged, and frees them as acknowledgements arrive. When the
/// parent is not there, or goes, it retries with a backoff (100 ms doubling to 2 s) and resends
/// from the last acknowledged record. Writing stops while the connection is not writable, so a
/// slow parent costs memory only up to the buffer's budget. All state lives on `eventLoop`.
final class StreamSender: @unchecked Sendable {
    let kind: StreamKind
    let target: Endpoint
    let buffer: RecordBuffer
    private let bootID: String
    private let emulation: VsockEmulation?
    private let eventLoop: EventLoop
    private let logger: Logger
    // On eventLoop only:
    private var channel: Channel?
    private var sentUpTo: UInt64 = 0
    private var delay = StreamSender.firstRetry
    private var retry: Scheduled<Void>?
    private var stopped = false
    private var failuresLogged = 0

    static let firstRetry: TimeAmount = .milliseconds(100)
    static let maximumRetry: TimeAmount = .seconds(2)
    /// Bytes of records encoded per write.
    static let batchBytes = 64 * 1024

    init(kind: StreamKind, target: Endpoint, buffer: RecordBuffer, bootID: String, emulation: VsockEmulation?,
         eventLoop: EventLoop, logger: Logger) {
        self.kind = kind
        self.target = target
        self.buffer = buffer
        self.bootID = bootID
        self.emulation = emulation
        self.eventLoop = eventLoop
        self.logger = logger
    }

    func start() {
        buffer.onAppend { [self] in eventLoop.execute { self.pump() } }
        eventLoop.execute { self.connect() }
    }

    /// Closes the connection and stops retrying; what is unacknowledged stays unsent.
    func stop() -> EventLoopFuture<Void> {
        eventLoop.submit {
            self.stopped = true
            self.retry?.cancel()
            return self.channel
        }.flatMap { channel in
            guard let channel else { return self.eventLoop.makeSucceededVoidFuture() }
            return channel.close().recover { @Sendable _ in }
        }
    }

    // MARK: - On the event loop

    private func connect() {
        guard !stopped else { return }
        let endpoint = emulation?.emulate(connectingTo: target) ?? target
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(.seconds(2))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcknowledgementHandler(sender: self))
                }
            }
        let connecting: EventLoopFuture<Channel>
        do {
            connecting = try bootstrap.connect(endpoint)
        } catch {
            connecting = eventLoop.makeFailedFuture(error)
        }
        connecting.whenComplete { [self] result in
            switch result {
            case .success(let channel): connected(channel)
            case .failure(let error): scheduleRetry(after: error)
            }
        }
    }

    private func connected(_ channel: Channel) {
        guard !stopped else {
            channel.close(promise: nil)
            return
        }
        self.channel = channel
        delay = Self.firstRetry
        if failuresLogged > 0 { logger.info("\(kind.rawValue) stream: connected to \(target)") }
        failuresLogged = 0
        sentUpTo = buffer.lastAcknowledged
        channel.write(ByteBuffer(string: StreamProtocol.hello(kind: kind, boot: bootID)), promise: nil)
        pump()
    }

    /// Writes batches while the connection takes them.
    fileprivate func pump() {
        guard let channel, channel.isActive else { return }
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

    fileprivate func disconnected(_ channel: Channel) {
        guard self.channel === channel else { return }
        self.channel = nil
        scheduleRetry(after: nil)
    }

    private func scheduleRetry(after error: Error?) {
        guard !stopped else { return }
        // Said once per outage (then at debug): the logs stream carries these lines too.
        let reason = error.map { ": \(DialErrorText.describe($0))" } ?? ": the parent closed the connection"
        if failuresLogged == 0 {
            logger.notice("\(kind.rawValue) stream: parent not reachable at \(target)\(reason); buffering and retrying")
        } else {
            logger.debug("\(kind.rawValue) stream: retry failed\(reason)")
        }
        failuresLogged += 1
        retry = eventLoop.scheduleTask(in: delay) { [self] in connect() }
        delay = min(delay * 2, Self.maximumRetry)
    }
}

/// Reads the parent's `{"ack":N}` lines and tells the sender about writability and the end.
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

    func channelInactive(context: ChannelHandlerContext) {
        sender.disconnected(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
