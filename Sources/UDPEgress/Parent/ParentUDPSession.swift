import Addressing
import Glibc
import LogThrottle
import Logging
import NIOCore
import NIOPosix
import Policy

/// One datagram stream from the enclave. Each flow it opens gets a UDP socket of this
/// machine's, connected to the flow's destination, so the kernel delivers only that address
/// and port's answers to it (an answer from any other port never reaches the enclave); each
/// answer goes back as a datagram frame for that flow, or is dropped and counted when the
/// stream is backed up. The enclave is not trusted either: a frame that is not one closes the
/// stream, a flow past `maxFlows` is refused, and flows idle past `idle` are closed.
final class ParentUDPSession: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = UDPFrame

    struct Settings: Sendable {
        var policy: EgressPolicy
        var maxFlows: Int
        var idle: TimeAmount
        var counters: UDPCounters
        var refusals: LogThrottle
        var logger: Logger
    }

    /// Datagrams held while a flow's socket is being set up.
    static let maximumWaiting = 64

    private final class Flow {
        let destination: UDPEndpoint
        var socket: Channel?
        var waiting: [ByteBuffer] = []
        var lastActive: NIODeadline

        init(destination: UDPEndpoint, now: NIODeadline) {
            self.destination = destination
            lastActive = now
        }
    }

    private let settings: Settings
    private var flows: [UInt32: Flow] = [:]
    private var stream: Channel?
    private var sweep: RepeatedTask?
    /// Sockets written to since the last flush: one flush each per batch of frames read, so
    /// that NIO hands a socket's datagrams to the kernel together (sendmmsg).
    private var unflushed: [ObjectIdentifier: Channel] = [:]

    init(settings: Settings) { self.settings = settings }

    private var counters: UDPCounters { settings.counters }

    func handlerAdded(context: ChannelHandlerContext) {
        stream = context.channel
        let interval = TimeAmount.seconds(5)
        sweep = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in self?.closeIdleFlows() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .open(let id, let destination, let name):
            guard flows[id] == nil else {
                errorCaught(context: context, error: UDPFrame.ProtocolError(description: "an open frame for flow \(id), which is open"))
                return
            }
            open(id, destination, name: name, context: context)
        case .datagram(let id, let payload):
            guard let flow = flows[id] else {
                counters.count(\.unmatched) // sent after the flow ended here (idle, or its socket failed)
                return
            }
            flow.lastActive = .now()
            guard let socket = flow.socket else {
                if flow.waiting.count < Self.maximumWaiting { flow.waiting.append(payload) } else { counters.count(\.dropped) }
                return
            }
            sendOn(socket, payload)
        case .close(let id):
            flows.removeValue(forKey: id)?.socket?.close(promise: nil)
        case .refused, .unreachable:
            break // the decoder refuses them from the enclave
        }
    }

    private func open(_ id: UInt32, _ destination: UDPEndpoint, name: String, context: ChannelHandlerContext) {
        guard flows.count < settings.maxFlows else {
            refuse(id, destination, "the parent has \(settings.maxFlows) flows open on this stream already (egress.udp.max_flows)")
            return
        }
        if case .deny(let reason) = settings.policy.decide(udpFlowTo: destination.address, port: destination.port, name: name) {
            refuse(id, destination, "egress policy (parent): \(reason)")
            return
        }
        let flow = Flow(destination: destination, now: .now())
        flows[id] = flow
        counters.count(\.flowsOpened)
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: destination.address.description, port: Int(destination.port))
        } catch {
            flows[id] = nil
            refuse(id, destination, "\(destination) is not an address: \(error)")
            return
        }
        DatagramBootstrap(group: context.eventLoop)
            .channelOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: IPv4Packet.maximumPayload + 1))
            // Room for a batch of frames' datagrams between flushes; past it they are dropped.
            .channelOption(ChannelOptions.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(AnswerHandler(session: self, id: id)) }
            }
            .connect(to: address)
            .whenComplete { [self] result in
                switch result {
                case .success(let socket):
                    guard flows[id] === flow else {
                        socket.close(promise: nil) // closed meanwhile
                        return
                    }
                    flow.socket = socket
                    for payload in flow.waiting { sendOn(socket, payload) }
                    flow.waiting = []
                    socket.flush()
                case .failure(let error):
                    guard flows[id] === flow else { return }
                    flows[id] = nil
                    refuse(id, destination, "cannot send to \(destination): \(DialErrorText.describe(error))")
                }
            }
    }

    private func sendOn(_ socket: Channel, _ payload: ByteBuffer) {
        guard socket.isWritable else {
            counters.count(\.dropped)
            return
        }
        counters.datagram(\.datagramsOut, \.bytesOut, size: payload.readableBytes)
        socket.write(payload, promise: nil)
        unflushed[ObjectIdentifier(socket)] = socket
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        for socket in unflushed.values { socket.flush() }
        unflushed.removeAll(keepingCapacity: true)
        context.fireChannelReadComplete()
    }

    private func refuse(_ id: UInt32, _ destination: UDPEndpoint, _ reason: String) {
        counters.count(\.refused)
        if let held = settings.refusals.admit() {
            settings.logger.info("refused \(destination): \(reason)\(held > 0 ? " (and \(held) more refusals)" : "")")
        }
        send(.refused(flow: id, reason: reason))
    }

    private func send(_ frame: UDPFrame) {
        guard let stream else { return }
        var buffer = stream.allocator.buffer(capacity: frame.maximumSize)
        frame.write(to: &buffer)
        stream.writeAndFlush(buffer, promise: nil)
    }

    // MARK: - From the destinations

    fileprivate func answer(_ id: UInt32, _ payload: ByteBuffer) {
        guard let flow = flows[id], let stream else { return }
        flow.lastActive = .now()
        guard stream.isWritable else {
            counters.count(\.dropped)
            return
        }
        counters.datagram(\.datagramsIn, \.bytesIn, size: payload.readableBytes)
        let frame = UDPFrame.datagram(flow: id, payload: payload)
        var buffer = stream.allocator.buffer(capacity: frame.maximumSize)
        frame.write(to: &buffer)
        stream.write(buffer, promise: nil)
    }

    fileprivate func answersRead() { stream?.flush() }

    /// ICMP port unreachable from the destination (ECONNREFUSED on the connected socket).
    fileprivate func unreachable(_ id: UInt32) {
        guard flows[id] != nil else { return }
        counters.count(\.unreachable)
        send(.unreachable(flow: id))
    }

    /// The flow's socket failed for good: the enclave is told the flow is over.
    fileprivate func socketFailed(_ id: UInt32) {
        guard flows.removeValue(forKey: id) != nil else { return }
        send(.close(flow: id))
    }

    private func closeIdleFlows() {
        let now = NIODeadline.now()
        let idle = flows.filter { now - $0.value.lastActive >= settings.idle }
        for (id, flow) in idle {
            flows[id] = nil
            flow.socket?.close(promise: nil)
            send(.close(flow: id))
        }
        counters.count(\.flowsExpired, by: idle.count)
    }

    // MARK: - The stream

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let error = error as? UDPFrame.ProtocolError {
            counters.count(\.protocolErrors)
            settings.logger.warning("closing the enclave's stream, which sent \(error)")
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        sweep?.cancel()
        for flow in flows.values { flow.socket?.close(promise: nil) }
        flows = [:]
        stream = nil
        context.fireChannelInactive()
    }
}

/// One flow's socket: its answers and its errors, to the session.
private final class AnswerHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let session: ParentUDPSession
    private let id: UInt32

    init(session: ParentUDPSession, id: UInt32) {
        self.session = session
        self.id = id
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.answer(id, unwrapInboundIn(data).data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session.answersRead()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let error = error as? IOError, error.errnoCode == ECONNREFUSED {
            session.unreachable(id)
            return
        }
        session.socketFailed(id)
        context.close(promise: nil)
    }
}
