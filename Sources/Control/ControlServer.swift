import Addressing
import LogThrottle
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Services

/// The enclave's end of the control port: listens on vsock (any CID) `control.vsock_port` and
/// takes one command, `stop`, which calls `onStop` (the supervisor then shuts down as on
/// SIGTERM). Peers that asked to stop stay connected and get the exit code when enclave-init
/// ends (`finish`). The parent is untrusted: anything else is answered with one error line and
/// closed, silent peers are closed after 5 s, at most 16 connections are open at once (a new
/// one evicts the oldest, so a flood of idle connections cannot lock a real `stop` out), and
/// every refusal costs at most one log line a second.
public final class ControlServer: Service, Sendable {
    public var listen: ListenAddress { listener.address }
    private let listener: SocketListener
    private let onStop: @Sendable () -> Void
    private let logger: Logger
    private let loop = EventLoops.one()
    private let state = NIOLockedValueBox(State())
    private let refusalLog = LogThrottle()

    private struct State {
        /// Every open connection, with the order it arrived in and whether it asked to stop.
        var open: [ObjectIdentifier: (channel: Channel, arrival: Int, asked: Bool)] = [:]
        var arrivals = 0
        /// The first `stop` asks the supervisor; later ones (a flood of them) are only acknowledged.
        var stopAsked = false
        /// Set by `finish`: a `stop` arriving after it gets the last line at once.
        var ended: ControlProtocol.Answer?

        /// The connection to drop for a new one: the oldest that has not asked to stop, else the oldest.
        func eviction() -> Channel? {
            let idle = open.values.filter { !$0.asked }
            return (idle.isEmpty ? Array(open.values) : idle).min { $0.arrival < $1.arrival }?.channel
        }
    }

    public init(vsockPort: UInt32, emulation: VsockEmulation?, logger: Logger, onStop: @escaping @Sendable () -> Void) {
        listener = SocketListener(.vsock(port: vsockPort), emulation: emulation, group: loop)
        self.onStop = onStop
        self.logger = logger
    }

    /// Listens; throws when it cannot. Connections are tracked here as well (the listener
    /// closes them at `stop`): `finish` writes each one that asked its last line.
    public func start() throws {
        try listener.start { [self] channel in
            admit(channel)
            channel.closeFuture.whenComplete { [self] _ in
                state.withLockedValue { $0.open[ObjectIdentifier(channel)] = nil }
            }
            try channel.pipeline.syncOperations.addHandler(ControlConnectionHandler(server: self))
        }
    }

    public var listening: [Listening] { [listener.listening("control \(listen)")] }

    /// Closes the listener and every connection without a last line (the boot failed before
    /// the app, or a test is done); `finish` is the end that tells peers the exit code.
    public func stop() { listener.stop() }

    /// Where it listens, as the console says it (with the emulation's socket when emulated).
    public var description: String { listening[0].withEmulation }

    /// Registers a new connection, evicting the oldest when the limit is reached.
    private func admit(_ channel: Channel) {
        let evicted = state.withLockedValue { state -> Channel? in
            let evicted = state.open.count >= ControlProtocol.maximumConnections ? state.eviction() : nil
            if let evicted { state.open[ObjectIdentifier(evicted)] = nil }
            state.arrivals += 1
            state.open[ObjectIdentifier(channel)] = (channel, state.arrivals, false)
            return evicted
        }
        if let evicted {
            evicted.close(promise: nil)
            refuse("\(ControlProtocol.maximumConnections) connections open: closed the oldest for a new one")
        }
    }

    /// A connection sent `stop`: the first one asks the supervisor; each is kept to be told the
    /// exit code.
    fileprivate func stopRequested(by channel: Channel) -> ControlProtocol.Answer {
        let (ended, first) = state.withLockedValue { state -> (ControlProtocol.Answer?, Bool) in
            state.open[ObjectIdentifier(channel)]?.asked = true
            defer { state.stopAsked = true }
            return (state.ended, !state.stopAsked)
        }
        if let ended { return ended }
        if first {
            logger.notice("the parent asked to stop")
            onStop()
        }
        return .stopping
    }

    fileprivate func refuse(_ message: String) {
        guard let held = refusalLog.admit() else { return }
        logger.warning("\(message)\(held > 0 ? " (and \(held) more refusals)" : "")")
    }

    /// enclave-init is done: every peer that asked to stop gets `shutdown exit_code=N`, then the
    /// connections and the listener close. Waits at most a second for those lines to leave.
    public func finish(exitCode: Int32, powerOff: Bool) {
        let last = ControlProtocol.Answer.shutdown(exitCode: exitCode, powerOff: powerOff)
        let open = state.withLockedValue { state in
            state.ended = last
            return Array(state.open.values)
        }
        let sent = open.map { connection in
            let channel = connection.channel
            guard connection.asked else { return channel.close() }
            return channel.writeAndFlush(ByteBuffer(string: last.line)).flatMap { channel.close() }
        }
        let done = loop.makePromise(of: Void.self)
        EventLoopFuture.andAllComplete(sent, on: loop).cascade(to: done)
        loop.scheduleTask(in: .seconds(1)) { done.succeed(()) } // a second completion is ignored
        try? done.futureResult.wait()
        listener.stop()
    }
}

/// One control connection: a line, then either `stopping` (and it waits for the end) or an
/// error line and close.
private final class ControlConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingCommand(line: [UInt8])
        /// It asked to stop; nothing more is read from it.
        case stopping
        case closing
    }

    private let server: ControlServer
    private var state = State.awaitingCommand(line: [])
    private var silenceTimer: Scheduled<Void>?

    init(server: ControlServer) {
        self.server = server
    }

    func channelActive(context: ChannelHandlerContext) {
        let timeout = ControlProtocol.commandTimeout.components.seconds
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        silenceTimer = context.eventLoop.scheduleTask(in: .seconds(timeout)) {
            let (handler, context) = loopBound.value
            if case .awaitingCommand = handler.state { handler.refuse(.silent, context: context) }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        silenceTimer?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .awaitingCommand(var line) = state else { return } // after the command, input is ignored
        var buffer = unwrapInboundIn(data)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
            line += bytes
            if line.count > ControlProtocol.maximumCommandLength { return refuse(.tooLong, context: context) }
            state = .awaitingCommand(line: line)
            return
        }
        line += bytes[..<newline]
        guard line.count <= ControlProtocol.maximumCommandLength else { return refuse(.tooLong, context: context) }
        switch ControlProtocol.command(in: line) {
        case .failure(let error):
            refuse(error, context: context)
        case .success:
            silenceTimer?.cancel()
            state = .stopping
            // Nothing more is read from a peer that asked to stop: a flood behind `stop` costs nothing.
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            let answer = server.stopRequested(by: context.channel)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer.line)), promise: nil)
            if case .shutdown = answer { context.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil) // a reset peer: nothing to answer
    }

    private func refuse(_ error: ControlProtocol.CommandError, context: ChannelHandlerContext) {
        silenceTimer?.cancel()
        state = .closing
        server.refuse("refused a connection: \(error)")
        let answer = ControlProtocol.Answer.error(error.description)
        // Close gracefully: the write side now, the connection when the peer ends its input or
        // after `lingering`. Closing outright with the peer's bytes still unread (the rest of a
        // garbage line) makes the kernel reset the connection, and the reset can destroy the
        // error line before the peer reads it. What still arrives is read and dropped (.closing).
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer.line))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: Self.lingering) { channel.close(promise: nil) }
        }
    }

    private static let lingering = TimeAmount.seconds(2)
}
