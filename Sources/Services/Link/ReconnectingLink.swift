import Addressing
import Logging
import NIOCore
import NIOPosix

/// One link from the enclave to a listener of the parent half, run by `LinkMachine` on one
/// event loop: the connect (through Addressing's one connect switch), the backoff, the bounded
/// queue while it connects, the outage said once and the recovery. The client (a stream
/// sender, the DNS stub, the UDP capture) adds its own handlers and says what an item is on
/// the wire; everything about staying connected is here, once. All state lives on `eventLoop`.
public final class ReconnectingLink<Item>: @unchecked Sendable {
    /// What the client brings: its handlers, how an item is written, and what it does when
    /// the link connects, drops items, or loses the connection.
    public struct Client {
        /// Adds the client's handlers to a new connection's pipeline (decoders first).
        public var pipeline: @Sendable (Channel) throws -> Void
        public var encode: (Item, inout ByteBuffer) -> Void
        /// Connected: the client's greeting or resend goes first (before queued items).
        public var connected: (Channel) -> Void
        /// Items that will never be sent, and why.
        public var dropped: ([Item], String) -> Void
        /// The connection ended or could not be made (after the outage was said).
        public var lost: (LinkMachine<Item>.Loss) -> Void

        public init(pipeline: @escaping @Sendable (Channel) throws -> Void, encode: @escaping (Item, inout ByteBuffer) -> Void,
                    connected: @escaping (Channel) -> Void = { _ in }, dropped: @escaping ([Item], String) -> Void = { _, _ in },
                    lost: @escaping (LinkMachine<Item>.Loss) -> Void = { _ in }) {
            self.pipeline = pipeline
            self.encode = encode
            self.connected = connected
            self.dropped = dropped
            self.lost = lost
        }
    }

    public struct Settings {
        /// How the log names the link: "logs stream", "dns", "udp".
        public var name: String
        /// Where it connects (the emulation already applied), and how the log says it.
        public var target: Endpoint
        public var targetDescription: String
        public var mode: LinkMachine<Item>.Mode
        public var bounds: LinkMachine<Item>.Bounds
        public var connectTimeout: TimeAmount
        /// The connection's write-buffer water marks, when the client watches writability.
        public var waterMark: ChannelOptions.Types.WriteBufferWaterMark?
        /// What happens while the parent is away, for the outage line: "buffering and retrying".
        public var whileAway: String

        public init(name: String, target: Endpoint, targetDescription: String? = nil, mode: LinkMachine<Item>.Mode,
                    bounds: LinkMachine<Item>.Bounds, connectTimeout: TimeAmount = .seconds(2),
                    waterMark: ChannelOptions.Types.WriteBufferWaterMark? = nil, whileAway: String) {
            self.name = name
            self.target = target
            self.targetDescription = targetDescription ?? "\(target)"
            self.mode = mode
            self.bounds = bounds
            self.connectTimeout = connectTimeout
            self.waterMark = waterMark
            self.whileAway = whileAway
        }
    }

    public let settings: Settings
    public let eventLoop: EventLoop
    private let client: Client
    private let logger: Logger
    // On eventLoop only:
    private var machine: LinkMachine<Item>
    private var open: Channel?
    private var retry: Scheduled<Void>?

    public init(settings: Settings, eventLoop: EventLoop, logger: Logger, client: Client) {
        self.settings = settings
        self.eventLoop = eventLoop
        self.logger = logger
        self.client = client
        machine = LinkMachine(mode: settings.mode, bounds: settings.bounds)
    }

    /// The open connection, on the loop: for writability and a client's own writes.
    public var channel: Channel? {
        eventLoop.assertInEventLoop()
        return open
    }

    /// A persistent link connects now; an on-demand one at its first send.
    public func start() {
        eventLoop.execute { [self] in perform(machine.start()) }
    }

    /// On the loop: written now, queued while the link connects, or dropped (the client's
    /// `dropped` hears of it, and false comes back).
    /// Written items are not flushed: the client flushes once after a batch (`flush`).
    @discardableResult
    public func send(_ item: Item, bytes: Int) -> Bool {
        eventLoop.assertInEventLoop()
        // The common case, a datagram or a query on an open connection, without the machine's
        // action list: what `send` would answer there ([.write([item])]), written directly.
        if let open, machine.isConnected {
            var buffer = open.allocator.buffer(capacity: bytes)
            client.encode(item, &buffer)
            open.write(buffer, promise: nil)
            return true
        }
        let actions = machine.send(item, bytes: bytes)
        perform(actions, flushingWrites: false)
        return !actions.contains { if case .drop = $0 { true } else { false } }
    }

    /// On the loop: whether a send of `bytes` now would go out or wait without being dropped,
    /// and the open connection is not backed up past its high water mark.
    public func canSend(bytes: Int) -> Bool {
        eventLoop.assertInEventLoop()
        if let open { return open.isWritable }
        return machine.canQueue(bytes: bytes)
    }

    public func flush() {
        eventLoop.assertInEventLoop()
        open?.flush()
    }

    /// Closes the connection and stops retrying; queued items are dropped.
    public func stop() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit { [self] in
            let closing = open
            perform(machine.stop())
            guard let closing else { return eventLoop.makeSucceededVoidFuture() }
            return closing.closeFuture.recover { _ in }
        }
    }

    // MARK: - On the loop

    private func perform(_ actions: [LinkMachine<Item>.Action], flushingWrites: Bool = true) {
        for action in actions {
            switch action {
            case .connect:
                connect()
            case .write(let items):
                guard let open else { continue }
                for item in items {
                    var buffer = open.allocator.buffer(capacity: 512) // grows for a larger item
                    client.encode(item, &buffer)
                    open.write(buffer, promise: nil)
                }
                if flushingWrites { open.flush() }
            case .drop(let items, let reason):
                client.dropped(items, reason)
            case .scheduleRetry(let delay):
                retry = eventLoop.scheduleTask(in: .nanoseconds(Int64(delay.components.seconds) * 1_000_000_000
                                                                 + delay.components.attoseconds / 1_000_000_000)) { [self] in
                    perform(machine.retryDue())
                }
            case .cancelRetry:
                retry?.cancel()
                retry = nil
            case .close:
                open?.close(promise: nil)
                open = nil
            case .outage(let loss, let first, let attempt):
                let what: String
                switch loss {
                case .couldNotConnect(let reason): what = "the parent is not reachable at \(settings.targetDescription): \(reason)"
                case .closed(let reason): what = "the connection to the parent at \(settings.targetDescription) ended (\(reason))"
                }
                if first {
                    logger.notice("\(settings.name): \(what); \(settings.whileAway)")
                } else {
                    logger.debug("\(settings.name): attempt \(attempt): \(what)")
                }
                client.lost(loss)
            case .recovered(let failed):
                logger.info("\(settings.name): connected to \(settings.targetDescription) after \(failed) failed attempt\(failed == 1 ? "" : "s")")
            case .connected:
                if let open { client.connected(open) }
            }
        }
    }

    private func connect() {
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(settings.connectTimeout)
            .channelInitializer { [self, pipeline = client.pipeline] channel in
                channel.eventLoop.makeCompletedFuture {
                    try pipeline(channel)
                    try channel.pipeline.syncOperations.addHandler(LinkEndHandler(link: self))
                }
            }
        if let waterMark = settings.waterMark {
            bootstrap = bootstrap.channelOption(ChannelOptions.writeBufferWaterMark, value: waterMark)
        }
        let connecting: EventLoopFuture<Channel>
        do {
            connecting = try bootstrap.connect(settings.target)
        } catch {
            connecting = eventLoop.makeFailedFuture(error)
        }
        connecting.whenComplete { [self] result in
            switch result {
            case .success(let channel):
                let actions = machine.connected()
                if actions.contains(where: { if case .connected = $0 { true } else { false } }) {
                    open = channel
                } else {
                    channel.close(promise: nil) // stopped while it connected
                }
                perform(actions.filter { if case .close = $0 { false } else { true } })
            case .failure(let error):
                perform(machine.connectFailed(DialErrorText.describe(error)))
            }
        }
    }

    /// The open connection ended; `error` is what closed it, if anything did.
    fileprivate func ended(_ channel: Channel, error: Error?) {
        guard open === channel else { return }
        open = nil
        perform(machine.closed(error.map { "\($0)" } ?? "the parent closed it"))
    }
}

/// Last in every link's pipeline: tells the link that its connection ended, and why.
private final class LinkEndHandler<Item>: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    private let link: ReconnectingLink<Item>
    private var failure: Error?

    init(link: ReconnectingLink<Item>) { self.link = link }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if failure == nil { failure = error }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        link.ended(context.channel, error: failure)
        context.fireChannelInactive()
    }
}
