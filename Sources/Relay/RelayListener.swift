import Addressing
import Logging
import LogThrottle
import NIOConcurrencyHelpers
import NIOCore
import Services
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
    let lookups: BlockingPool.Lane
    let engine: SpliceEngine
    let logger: Logger
    /// How each accepted connection gets its upstream.
    private let setup: any ConnectionSetup
    private let serverChannel = NIOLockedValueBox<Channel?>(nil)
    private let slots: ConnectionSlots
    private let gate: AcceptGate
    /// Accepted connections still open and not yet handed to the splice engine, for the drain
    /// at shutdown.
    private let open = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])
    /// Upstream failures are logged at most once a second, with how many were not logged.
    private let failureLog = LogThrottle()

    init(route: RelayRoute, emulation: VsockEmulation?, lookups: BlockingPool.Lane, engine: SpliceEngine, logger: Logger) {
        self.route = route
        self.emulation = emulation
        self.lookups = lookups
        self.engine = engine
        self.logger = logger
        setup = route.target.setup
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
        switch address {
        case .tcp: bootstrap = bootstrap.childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
        case .unix:
            bootstrap = bootstrap
                .childChannelOption(ChannelOptions.socketOption(.so_sndbuf), value: RelaySocketOptions.unixSocketBuffer)
                .childChannelOption(ChannelOptions.socketOption(.so_rcvbuf), value: RelaySocketOptions.unixSocketBuffer)
        case .vsock, .device: break
        }
        let bound: EventLoopFuture<Channel>
        do { bound = try bootstrap.bind(address) } catch { return group.next().makeFailedFuture(error) }
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

    /// The route's strategy sets the connection up; the established pair comes back to `wire`.
    private func relay(_ accepted: Channel) {
        setup.setUp(accepted, context: SetupContext(route: route, emulation: emulation, lookups: lookups, counters: counters,
                                                    logger: logger, relay: { [self] in wire($0, to: $1) },
                                                    upstreamFailed: { [self] error in
                                                        counters.upstreamFailed()
                                                        logUpstreamFailure(error)
                                                    }))
    }

    /// Relays between the accepted connection and its upstream from now on, through the splice
    /// engine, once what NIO still has to write (a proxy's answer) is out.
    func wire(_ accepted: Channel, to upstream: Channel) {
        let nothing = accepted.allocator.buffer(capacity: 0) // completes after every earlier write
        let deadline = NIODeadline.now() + route.connectTimeout
        accepted.writeAndFlush(nothing).and(upstream.writeAndFlush(nothing)).whenComplete { [self] written in
            do {
                _ = try written.get()
                try handOver(accepted, upstream, until: deadline)
            } catch {
                logger.debug("\(route.name): the connection closed before it was relayed (\(error))")
                accepted.close(promise: nil)
                upstream.close(promise: nil)
            }
        }
    }

    /// How often a hand-over that found no descriptor to spare tries again.
    static let descriptorRetry: TimeAmount = .milliseconds(50)

    /// Gives both sockets (copies of their descriptors) and whatever NIO read early to the
    /// engine, and closes the channels. Out of descriptors (EMFILE, ENFILE), it tries again
    /// every 50 ms until `deadline` (the route's connect timeout, as the dial's own retries):
    /// a connection set up while others are closing still gets through; after that it fails
    /// like a dial that found no descriptor.
    private func handOver(_ accepted: Channel, _ upstream: Channel, until deadline: NIODeadline) throws {
        let client: CInt, server: CInt
        do {
            client = try Self.duplicateSocket(of: accepted)
            do {
                server = try Self.duplicateSocket(of: upstream)
            } catch {
                close(client)
                throw error
            }
        } catch let shortage as RelayError where shortage.isLocalShortage {
            let retryAt = NIODeadline.now() + Self.descriptorRetry
            guard retryAt < deadline else {
                counters.upstreamFailed()
                logUpstreamFailure(shortage)
                accepted.close(promise: nil)
                upstream.close(promise: nil)
                return
            }
            accepted.eventLoop.scheduleTask(deadline: retryAt) { [self] in
                do {
                    try handOver(accepted, upstream, until: deadline)
                } catch {
                    accepted.close(promise: nil)
                    upstream.close(promise: nil)
                }
            }
            return
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

    /// A descriptor of the channel's socket that stays open when the channel closes.
    private static func duplicateSocket(of channel: Channel) throws -> CInt {
        let copy = try channel.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self) { socket in
            let fd = fcntl(socket, F_DUPFD_CLOEXEC, 0)
            return (fd: fd, errno: fd < 0 ? errno : 0)
        }
        guard let copy else { throw RelayError.noSocket(route: "\(channel)") }
        guard copy.fd >= 0 else { throw RelayError.duplicate(errno: copy.errno) }
        return copy.fd
    }

    /// The debug line of a connection whose relay starts.
    private func relaying(_ accepted: Channel, to upstream: Channel) -> String {
        "\(route.name): relaying \(accepted.remoteAddress.map { "\($0)" } ?? "a connection") to \(upstream.remoteAddress.map { "\($0)" } ?? "\(route.target)")"
    }

    func logUpstreamFailure(_ error: Error) {
        guard let unlogged = failureLog.admit() else { return }
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
