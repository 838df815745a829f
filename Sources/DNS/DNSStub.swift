import Addressing
import BootConfig
import Logging
import LogThrottle
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Services

/// The DNS stub inside the enclave: 127.0.0.1:53 over UDP and TCP (what resolv.conf's managed
/// block names). Names of `hosts[]` are answered here, names the egress policy cannot allow are
/// refused here, repeated questions are answered from the parent's earlier answers for their
/// TTL (`AnswerCache`), everything else goes to the parent half over vsock (`ParentLink`);
/// every answer the app gets from the parent or the cache feeds the name table that names
/// transparently captured connections.
public final class DNSStub: Service, Sendable {
    /// The longest any query waits: a parent that is away or silent gives SERVFAIL by then
    /// (below glibc's 5 s per try, so the app's resolver does not give up first).
    public static let queryTimeout: TimeAmount = .seconds(3)
    /// A TCP client idle this long is closed.
    static let tcpIdleTimeout: TimeAmount = .seconds(30)
    /// Queries one TCP connection may have waiting; more are answered SERVFAIL at once.
    static let tcpInFlight = 64

    public let counters = DNSCounters()
    public let names: NameTable
    public let cache: AnswerCache
    let rules: StubRules
    private let link: ParentLink
    private let logger: Logger
    /// One event loop: the stub's work is tiny per query, and the link's state lives on it.
    private let loop: EventLoop
    private let host: String
    private let port: Int
    /// UDP: the datagram socket; TCP: the one listener component.
    private let udpChannel = NIOLockedValueBox<Channel?>(nil)
    private let tcp: SocketListener
    /// Policy refusals are logged at most once a second.
    private let refusalLog = LogThrottle()

    /// `parent`: the parent half's DNS port as an endpoint (the emulation already applied).
    /// `host:port`: where it listens (127.0.0.1:53 unless a test asks for others; port 0 takes
    /// free ports, `boundPorts` says which).
    public init(rules: StubRules, parent: Endpoint, names: NameTable, cache: AnswerCache = AnswerCache(), logger: Logger,
                host: String = DNSSettings.listenAddress, port: Int = Int(DNSSettings.listenPort),
                timeout: TimeAmount = DNSStub.queryTimeout) {
        self.host = host
        self.port = port
        self.rules = rules
        self.names = names
        self.cache = cache
        self.logger = logger
        loop = EventLoops.one()
        tcp = SocketListener(.tcp(host: host, port: UInt16(port)), group: loop)
        link = ParentLink(target: parent, eventLoop: loop, timeout: timeout, counters: counters, logger: logger)
    }

    /// The ports the stub listens on, once started (53 unless a test asked for others).
    public var boundPorts: (udp: Int, tcp: Int)? {
        guard let udp = udpChannel.withLockedValue({ $0?.localAddress?.port }), let tcp = tcp.boundPort else { return nil }
        return (udp, tcp)
    }

    public var listening: [Listening] { [Listening("dns stub \(host):\(port) (udp, tcp)")] }

    /// Listens on `host:port` over UDP and TCP; returns once both are bound, or throws (and
    /// closes what was bound).
    public func start() throws {
        do {
            try bind(host: host, port: port).wait()
        } catch {
            shutDown()
            throw error
        }
    }

    private func bind(host: String, port: Int) -> EventLoopFuture<Void> {
        let udp = DatagramBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(UDPQueryHandler(stub: self)) }
            }
            .bind(host: host, port: port)
        let tcp = self.tcp.bind { [self] channel in
            try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: Self.tcpIdleTimeout))
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(DNSFrameDecoder()))
            try channel.pipeline.syncOperations.addHandler(FramedQueryHandler(limit: Self.tcpInFlight, counters: counters) { [self] query, loop in
                answer(query, overUDP: false, on: loop)
            })
        }
        return udp.and(tcp)
            .map { [udpChannel] udp, _ in udpChannel.withLockedValue { $0 = udp } }
            .flatMapError { error in
                udp.whenSuccess { $0.close(promise: nil) }
                return udp.eventLoop.makeFailedFuture(error)
            }
    }

    /// Closes the listeners and the parent connection, and logs the counters.
    public func stop() {
        shutDown()
        logger.info("dns stub: \(counters.snapshot)")
    }

    private func shutDown() {
        if let udp = udpChannel.withLockedValue({ $0 }) { try? udp.close().wait() }
        tcp.stop()
        try? link.close().wait()
    }

    /// The answer to one message from a client, or nil when nothing should be sent (a message
    /// too broken to answer, or a response sent to the stub). `udpLimit`: the client reads
    /// over UDP, so a larger answer is cut to its header and question with TC set.
    func answer(_ bytes: [UInt8], overUDP: Bool, on eventLoop: EventLoop) -> EventLoopFuture<[UInt8]?> {
        counters.count(\.queries)
        let query: DNSMessage
        switch DNSMessage.parseQuery(bytes) {
        case .success(let parsed) where !parsed.isResponse:
            query = parsed
        case .success:
            counters.count(\.malformed)
            return eventLoop.makeSucceededFuture(nil)
        case .failure:
            counters.count(\.malformed)
            guard let id = DNSMessage.id(of: bytes), bytes[2] & 0x80 == 0 else { return eventLoop.makeSucceededFuture(nil) }
            return eventLoop.makeSucceededFuture(DNSMessage.formatError(id: id))
        }
        switch rules.decide(query) {
        case .answer(let addresses):
            counters.count(\.local)
            return eventLoop.makeSucceededFuture(query.reply(.noError, addresses: addresses, ttl: StubRules.localTTL))
        case .notImplemented:
            return eventLoop.makeSucceededFuture(query.reply(.notImplemented))
        case .refuse(let reason):
            counters.count(\.refused)
            logRefusal(query.question, reason)
            return eventLoop.makeSucceededFuture(query.reply(.refused))
        case .forward:
            let udpLimit = overUDP ? query.acceptedUDPSize() : DNSMessage.maximumLength
            if let cached = cache.answer(query), case .success(let parsed) = DNSMessage.parse(cached) {
                counters.count(\.cached)
                // A cached answer names its addresses as a forwarded one does: the app may
                // resolve an allowed name again after another name took the same address.
                names.record(answer: parsed)
                return eventLoop.makeSucceededFuture(cached.count > udpLimit ? DNSMessage.truncated(parsed) : cached)
            }
            counters.count(\.forwarded)
            return link.ask(query).hop(to: eventLoop).map { [names, cache] answer in
                guard case .success(let parsed) = DNSMessage.parse(answer) else { return answer }
                names.record(answer: parsed)
                cache.store(parsed, for: query)
                return answer.count > udpLimit ? DNSMessage.truncated(parsed) : answer
            }
        }
    }

    private func logRefusal(_ question: DNSQuestion, _ reason: String) {
        guard let unlogged = refusalLog.admit() else { return }
        let more = unlogged > 0 ? " (and \(unlogged) more refusals since the last message)" : ""
        logger.info("refused \(question.name) (type \(question.type)): \(reason)\(more)")
    }
}

/// One datagram, one query; the answer goes back to the sender.
private final class UDPQueryHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>
    private let stub: DNSStub

    init(stub: DNSStub) { self.stub = stub }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let channel = context.channel
        stub.answer(Array(envelope.data.readableBytesView), overUDP: true, on: context.eventLoop).whenSuccess { answer in
            guard let answer else { return }
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: channel.allocator.buffer(bytes: answer)),
                                  promise: nil)
        }
    }

    /// A failed send (the client went away: ECONNREFUSED on loopback) ends nothing.
    func errorCaught(context: ChannelHandlerContext, error: Error) {}
}
