import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One listener and where its connections go.
public struct RelayRoute: Sendable, CustomStringConvertible {
    public var name: String
    public var listen: ListenAddress
    public var target: RelayTarget
    /// For each candidate endpoint of the target.
    public var connectTimeout: TimeAmount
    /// 0: no limit. At the limit the listener stops accepting; the kernel's backlog holds the rest.
    public var maxConnections: Int

    public init(name: String, listen: ListenAddress, target: RelayTarget, connectTimeout: TimeAmount, maxConnections: Int = 0) {
        self.name = name
        self.listen = listen
        self.target = target
        self.connectTimeout = connectTimeout
        self.maxConnections = maxConnections
    }

    public init(name: String, listen: ListenAddress, target: Endpoint, connectTimeout: TimeAmount, maxConnections: Int = 0) {
        self.init(name: name, listen: listen, target: .endpoint(target), connectTimeout: connectTimeout, maxConnections: maxConnections)
    }

    public var description: String { "\(name) \(listen) -> \(target)" }
}

/// Accepts on a route's address and relays every connection to its target.
public final class RelayListener: Sendable {
    public let route: RelayRoute
    public let counters = ListenerCounters()
    let emulation: VsockEmulation?
    let lookups: NIOThreadPool
    let engine: SpliceEngine?
    let logger: Logger
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    private let slots: ConnectionSlots
    private let gate: AcceptGate
    /// Accepted connections still open and not yet handed to the splice engine, for the drain
    /// at shutdown.
    private let open = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])
    /// Upstream failures are logged at most once a second, with how many were not logged.
    private let failureLog = NIOLockedValueBox((last: NIODeadline.distantPast, unlogged: 0))

    init(route: RelayRoute, emulation: VsockEmulation?, lookups: NIOThreadPool, engine: SpliceEngine?, logger: Logger) {
        self.route = route
        self.emulation = emulation
        self.lookups = lookups
        self.engine = engine
        self.logger = logger
        slots = ConnectionSlots(limit: route.maxConnections)
        gate = AcceptGate(name: route.name, logger: logger)
    }

    /// The address the listener is bound to (useful with port 0 in tests).
    public var boundAddress: SocketAddress? { serverChannel.withLockedValue { $0?.localAddress } }

    /// Binds the listener; the future completes once it accepts.
    func start(group: EventLoopGroup) -> EventLoopFuture<Void> {
        let address = route.listen.emulated(by: emulation)
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            // EMFILE/ENFILE on accept: back off instead of spinning the CPU; max_connections.
            .serverChannelInitializer { [gate] channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(gate) }
            }
            .childChannelOption(ChannelOptions.autoRead, value: false) // nothing is read before the target answers
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(ChannelOptions.recvAllocator, value: RelaySocketOptions.receiveAllocator)
            .childChannelOption(ChannelOptions.writeBufferWaterMark, value: RelaySocketOptions.writeWatermark)
            .childChannelInitializer { [self] accepted in
                accepted.eventLoop.makeCompletedFuture {
                    try accepted.pipeline.syncOperations.addHandler(EarlyInboundBuffer())
                    accept(accepted)
                }
            }
        let bound: EventLoopFuture<Channel>
        switch address {
        case .tcp(let host, let port):
            bootstrap = bootstrap.childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            bound = bootstrap.bind(host: host, port: Int(port))
        case .unix(let path):
            bound = bootstrap
                .childChannelOption(ChannelOptions.socketOption(.so_sndbuf), value: RelaySocketOptions.unixSocketBuffer)
                .childChannelOption(ChannelOptions.socketOption(.so_rcvbuf), value: RelaySocketOptions.unixSocketBuffer)
                .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true)
        case .vsock(let port):
            bound = bootstrap.bind(to: VsockAddress(cid: .any, port: .init(rawValue: port)))
        }
        return bound.map { [self] channel in serverChannel.withLockedValue { $0 = channel } }
    }

    private func accept(_ accepted: Channel) {
        _ = counters.accepted()
        let key = ObjectIdentifier(accepted)
        open.withLockedValue { $0[key] = accepted }
        let waited = slots.acquire(key) { [self] in
            accepted.eventLoop.execute { self.relay(accepted) }
        }
        // Keep the excess in the kernel's backlog rather than in our hands.
        if waited || slots.isFull { setAccepting(false) }
        accepted.closeFuture.whenComplete { [self] _ in
            // A connection handed to the splice engine left `open` then; the engine ends it.
            if open.withLockedValue({ $0.removeValue(forKey: key) }) != nil { ended(key) }
        }
    }

    /// The connection's sockets are closed: its slot is free.
    private func ended(_ key: ObjectIdentifier) {
        _ = counters.closed()
        slots.release(key)
        if route.maxConnections > 0 && !slots.isFull { setAccepting(true) }
    }

    private func relay(_ accepted: Channel) {
        if case .egress(let role) = route.target {
            serveEgress(accepted, role: role)
            return
        }
        Connector.connect(to: route.target, on: accepted.eventLoop, timeout: route.connectTimeout, emulation: emulation,
                          lookups: lookups, skipped: { [logger, route] endpoint, error in
                              logger.debug("\(route.name): \(endpoint) failed (\(DialErrorText.describe(error))); tried the next address")
                          })
            .whenComplete { [self] result in
                switch result {
                case .success(let upstream):
                    do {
                        try wire(accepted, to: upstream)
                    } catch {
                        // The client left while the target was dialled: nothing to relay.
                        logger.debug("\(route.name): the connection closed before its target answered")
                        accepted.close(promise: nil)
                        upstream.close(promise: nil)
                    }
                case .failure(let error):
                    counters.upstreamFailed()
                    logUpstreamFailure(error)
                    accepted.close(promise: nil)
                }
            }
    }

    /// Relays between the accepted connection and its upstream from now on: through the splice
    /// engine once what NIO still has to write (a proxy's answer) is out, or through NIO's glue.
    func wire(_ accepted: Channel, to upstream: Channel) throws {
        guard let engine else { return try glue(accepted, to: upstream) }
        let nothing = accepted.allocator.buffer(capacity: 0) // completes after every earlier write
        accepted.writeAndFlush(nothing).and(upstream.writeAndFlush(nothing)).whenComplete { [self] written in
            do {
                try written.get()
                try handOver(accepted, upstream, to: engine)
            } catch {
                logger.debug("\(route.name): the connection closed before it was relayed (\(error))")
                accepted.close(promise: nil)
                upstream.close(promise: nil)
            }
        }
    }

    /// Gives both sockets (copies of their descriptors) and whatever NIO read early to the
    /// engine, and closes the channels. Without a descriptor to spare (EMFILE), NIO relays.
    private func handOver(_ accepted: Channel, _ upstream: Channel, to engine: SpliceEngine) throws {
        guard let client = try Self.duplicateSocket(of: accepted) else { return try glue(accepted, to: upstream) }
        guard let server = try Self.duplicateSocket(of: upstream) else {
            close(client)
            return try glue(accepted, to: upstream)
        }
        let fromClient: (bytes: [UInt8], eof: Bool), fromServer: (bytes: [UInt8], eof: Bool)
        do {
            fromClient = try accepted.pipeline.syncOperations.takeEarlyInput()
            fromServer = try upstream.pipeline.syncOperations.takeEarlyInput()
        } catch {
            close(client)
            close(server)
            throw error
        }
        // From here the engine owns the connection: closing the channels no longer ends it.
        let key = ObjectIdentifier(accepted)
        open.withLockedValue { _ = $0.removeValue(forKey: key) }
        counters.countIn(fromClient.bytes.count)
        counters.countOut(fromServer.bytes.count)
        logger.debug("\(relaying(accepted, to: upstream))")
        accepted.close(promise: nil)
        upstream.close(promise: nil)
        let counters = self.counters
        engine.relay(SpliceHandover(client: client, server: server,
                                    fromClient: fromClient.bytes, clientEOF: fromClient.eof,
                                    fromServer: fromServer.bytes, serverEOF: fromServer.eof,
                                    countIn: { counters.countIn($0) }, countOut: { counters.countOut($0) },
                                    ended: { [self] in ended(key) }))
    }

    /// A descriptor of the channel's socket that stays open when the channel closes; nil if
    /// none is left.
    private static func duplicateSocket(of channel: Channel) throws -> CInt? {
        let copy = try channel.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self) { socket in
            fcntl(socket, F_DUPFD_CLOEXEC, 0)
        }
        guard let copy, copy >= 0 else { return nil }
        return copy
    }

    /// The NIO path: both channels read into buffers that the glue writes to the other side.
    private func glue(_ accepted: Channel, to upstream: Channel) throws {
        let counters = self.counters
        let (client, server) = GlueHandler.matchedPair(countFirst: { counters.countIn($0) }, countSecond: { counters.countOut($0) })
        // Whatever either side delivered early (bytes and EOF) goes into the glue first.
        let replayClient = try accepted.pipeline.syncOperations.addGlue(client)
        let replayServer = try upstream.pipeline.syncOperations.addGlue(server)
        replayClient()
        replayServer()
        // Reading starts only now, on both sides, gated by the glue's backpressure.
        try accepted.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        try upstream.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        logger.debug("\(relaying(accepted, to: upstream)) through the event loop")
    }

    /// The debug line of a connection whose relay starts.
    private func relaying(_ accepted: Channel, to upstream: Channel) -> String {
        "\(route.name): relaying \(accepted.remoteAddress.map { "\($0)" } ?? "a connection") to \(upstream.remoteAddress.map { "\($0)" } ?? "\(route.target)")"
    }

    func logUpstreamFailure(_ error: Error) {
        let unlogged: Int? = failureLog.withLockedValue { state in
            let now = NIODeadline.now()
            guard now - state.last >= .seconds(1) else {
                state.unlogged += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.unlogged
        }
        guard let unlogged else { return }
        let more = unlogged > 0 ? " (and \(unlogged) more failures since the last message)" : ""
        logger.warning("\(route.name): cannot reach \(route.target): \(DialErrorText.describe(error)); closing the accepted connection\(more)")
    }

    private func setAccepting(_ accepting: Bool) {
        guard let channel = serverChannel.withLockedValue({ $0 }) else { return }
        gate.setAtLimit(!accepting, on: channel.eventLoop)
    }

    /// Closes the listening socket; open connections go on (the service's drain).
    func stopAccepting() {
        if let channel = serverChannel.withLockedValue({ $0 }) { try? channel.close().wait() }
    }

    /// Closes the connections still being set up or relayed by NIO (the engine closes its own).
    func closeRemaining() {
        for channel in open.withLockedValue({ Array($0.values) }) { try? channel.close().wait() }
    }
}
