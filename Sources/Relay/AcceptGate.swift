import Glibc
import Logging
import NIOCore

/// Whether a listener accepts: not while its connection limit is reached, and not for a short
/// back-off after accept failed for lack of descriptors or memory. The one owner of the server
/// channel's autoRead, which is how a listener stops accepting (the kernel's backlog holds
/// the rest; nothing is dropped).
///
/// Why not NIO's AcceptBackoffHandler: when the first accept of a readiness event fails, NIO
/// keeps the listener registered for reading, so level-triggered epoll reports it again at
/// once and the handler never gets the read it would delay: 100% of a CPU until a descriptor
/// frees (seen with `prlimit --nofile` in the sandbox test). Turning autoRead off unregisters it.
final class AcceptGate: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Channel
    typealias InboundOut = Channel

    static let backoff = TimeAmount.milliseconds(100)

    private let logger: Logger
    private let name: String
    // Touched on the server channel's event loop only.
    private var context: ChannelHandlerContext?
    private var atLimit = false
    private var backingOff = false
    private var lastWarning = NIODeadline.distantPast
    private var failuresSinceWarning = 0

    init(name: String, logger: Logger) {
        self.name = name
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard Connector.isLocalShortage(error) else {
            context.fireErrorCaught(error)
            return
        }
        failuresSinceWarning += 1
        if NIODeadline.now() - lastWarning >= .seconds(1) {
            logger.warning("\(name): cannot accept: \(error) (\(failuresSinceWarning) times); pausing accepts for \(Self.backoff.nanoseconds / 1_000_000) ms at a time until it passes")
            lastWarning = .now()
            failuresSinceWarning = 0
        }
        guard !backingOff else { return }
        backingOff = true
        apply()
        context.eventLoop.scheduleTask(in: Self.backoff) { [self] in
            backingOff = false
            apply()
        }
    }

    /// The connection limit is reached (or no longer): callable from any thread.
    func setAtLimit(_ value: Bool, on eventLoop: EventLoop) {
        eventLoop.execute { [self] in
            atLimit = value
            apply()
        }
    }

    private func apply() {
        guard let channel = context?.channel else { return }
        // Turning autoRead on makes NIO read (accept) again; off unregisters the listener.
        try? channel.syncOptions?.setOption(ChannelOptions.autoRead, value: !(atLimit || backingOff))
    }
}
