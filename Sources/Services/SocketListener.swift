import Addressing
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Glibc

/// One listening stream socket of a service, set up here once for every service of either half:
/// the bootstrap on the shared loops, SO_REUSEADDR, the bind through Addressing's one switch
/// (with the vsock emulation applied), the connections it accepted tracked and closed with it.
/// A service brings only what a connection is: the handlers its `initialize` adds (given at
/// `start`, so that it may use the service itself).
public final class SocketListener: Sendable {
    /// What differs between services' connections.
    public struct Options: Sendable {
        /// Keep a connection open after the client shut its write side (HTTP clients that send
        /// a request and then shut down writing must still get the answer).
        public var allowRemoteHalfClosure = false
        /// Water marks for services that watch writability (the UDP stream, the attested ingress).
        public var writeBufferWaterMark: ChannelOptions.Types.WriteBufferWaterMark?
        /// Reads that grow with the traffic (bulk services); nil: NIO's default.
        public var receiveAllocator: AdaptiveRecvByteBufferAllocator?
        /// SO_SNDBUF and SO_RCVBUF for a connection on a Unix socket (the vsock emulation: the
        /// kernel's default makes a bulk stream wake up five times as often); nil: the kernel's.
        public var unixSocketBuffer: Int?

        public init(allowRemoteHalfClosure: Bool = false, writeBufferWaterMark: ChannelOptions.Types.WriteBufferWaterMark? = nil,
                    receiveAllocator: AdaptiveRecvByteBufferAllocator? = nil, unixSocketBuffer: Int? = nil) {
            self.allowRemoteHalfClosure = allowRemoteHalfClosure
            self.writeBufferWaterMark = writeBufferWaterMark
            self.receiveAllocator = receiveAllocator
            self.unixSocketBuffer = unixSocketBuffer
        }
    }

    /// The address as configured, and as bound (the emulation's socket for vsock).
    public let address: ListenAddress
    public let bound: ListenAddress
    private let group: EventLoopGroup
    private let options: Options
    private let server = NIOLockedValueBox<Channel?>(nil)
    private let accepted = AcceptedChannels()

    public init(_ address: ListenAddress, emulation: VsockEmulation? = nil, group: EventLoopGroup = EventLoops.one(),
                options: Options = Options()) {
        self.address = address
        self.bound = address.emulated(by: emulation)
        self.group = group
        self.options = options
    }

    /// Binds; the future fails when it cannot. `initialize` adds a new connection's handlers
    /// (it runs on the connection's loop).
    public func bind(initialize: @escaping @Sendable (Channel) throws -> Void) -> EventLoopFuture<Void> {
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [accepted] channel in
                accepted.track(channel)
                return channel.eventLoop.makeCompletedFuture { try initialize(channel) }
            }
        if options.allowRemoteHalfClosure { bootstrap = bootstrap.childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true) }
        if let marks = options.writeBufferWaterMark { bootstrap = bootstrap.childChannelOption(ChannelOptions.writeBufferWaterMark, value: marks) }
        if let allocator = options.receiveAllocator { bootstrap = bootstrap.childChannelOption(ChannelOptions.recvAllocator, value: allocator) }
        if let size = options.unixSocketBuffer, case .unix = bound {
            bootstrap = bootstrap
                .childChannelOption(ChannelOptions.socketOption(.so_sndbuf), value: SocketOptionValue(size))
                .childChannelOption(ChannelOptions.socketOption(.so_rcvbuf), value: SocketOptionValue(size))
        }
        do {
            return try bootstrap.bind(bound).map { [server] channel in server.withLockedValue { $0 = channel } }
        } catch {
            return group.next().makeFailedFuture(error)
        }
    }

    /// Binds, waiting; throws when it cannot.
    public func start(initialize: @escaping @Sendable (Channel) throws -> Void) throws { try bind(initialize: initialize).wait() }

    /// The port the kernel gave (a listener bound to port 0 in tests), once bound.
    public var boundPort: Int? { server.withLockedValue { $0?.localAddress?.port } }

    /// Closes the listening socket, then every connection it accepted: at once, or after the
    /// open ones had up to `drain` to end by themselves.
    public func stop(drain: TimeAmount = .zero) {
        if let channel = server.withLockedValue({ $0 }) { try? channel.close().wait() }
        let deadline = NIODeadline.now() + drain
        while accepted.count > 0 && NIODeadline.now() < deadline { usleep(10_000) }
        accepted.closeAll()
    }

    /// Connections accepted and still open.
    public var openConnections: Int { accepted.count }

    /// How the logs name it: `description` and, when emulated, the emulation's socket.
    public func listening(_ description: String) -> Listening {
        Listening(description, emulated: bound == address ? nil : bound)
    }
}
