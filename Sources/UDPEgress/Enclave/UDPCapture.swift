import Addressing
import Glibc
import LinuxNet
import LogThrottle
import Logging
import NIOCore
import NIOPosix
import Policy
import Services

/// egress.udp inside the enclave. Every UDP datagram the app sends outside 127.0.0.0/8 arrives
/// on the TUN device as an IP packet with its real destination; a new flow is judged by the
/// egress policy as a captured TCP connection is (by every name the DNS stub gave its address,
/// or by the address; `CapturedConnection`), refused with ICMP port unreachable, or opened on the
/// one vsock stream to the parent half, which sends the datagrams from a socket of its own and
/// carries the answers back; each answer is written to the device as coming from the flow's
/// destination to the app's socket, and only for a flow the app opened.
///
/// UDP is lossy, and so is this: when the stream to the parent is backed up (NIO's write
/// buffer over its high mark), or the parent is away, datagrams are dropped and counted. All
/// state lives on one event loop; the device is read there too (NIO's pipe channel, one packet
/// per read) and written with write(2), one packet per call.
public final class UDPCapture: Service, @unchecked Sendable {
    /// The stream's write buffer: past the high mark datagrams are dropped until it drains.
    static let waterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 256 * 1024, high: 1024 * 1024)
    /// Frames held while the stream connects; past this they are dropped.
    static let maximumWaitingBytes = 256 * 1024
    static let connectTimeout: TimeAmount = .seconds(2)

    private let device: TunDevice
    /// Where the parent half listens (the emulation already applied), and how the log names it.
    private let parent: Endpoint
    private let parentDescription: String
    private let policy: EgressPolicy
    private let names: @Sendable (IPv4Address) -> [String]
    private let logger: Logger
    private let loop: EventLoop
    public let counters = UDPCounters()
    private let refusals = LogThrottle()
    /// The stream to the parent: made at the first frame, again after it ends (Services).
    private var link: ReconnectingLink<UDPFrame>!

    // On `loop` only:
    private var table: FlowTable
    private var deviceChannel: Channel?
    private var sweep: RepeatedTask?
    /// Set by `stop`: the stream's end is ours then, not news.
    private var stopping = false

    public init(device: TunDevice, parent: Endpoint, parentDescription: String, maxFlows: Int, idleSeconds: Int,
                policy: EgressPolicy, names: @escaping @Sendable (IPv4Address) -> [String], logger: Logger) {
        self.device = device
        self.parent = parent
        self.parentDescription = parentDescription
        self.policy = policy
        self.names = names
        self.logger = logger
        loop = EventLoops.one()
        table = FlowTable(capacity: maxFlows, idle: .seconds(Int64(idleSeconds)))
        link = ReconnectingLink(
            settings: .init(name: "udp", target: parent, targetDescription: parentDescription, mode: .onDemand,
                            bounds: .init(items: Self.maximumWaitingBytes / UDPFrame.headerLength, bytes: Self.maximumWaitingBytes),
                            connectTimeout: Self.connectTimeout, waterMark: Self.waterMark,
                            whileAway: "datagrams are dropped and flows forgotten until it answers"),
            eventLoop: loop, logger: logger,
            client: .init(pipeline: { [unowned self] channel in
                              try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(UDPFrameDecoder(receiver: .enclave)))
                              try channel.pipeline.syncOperations.addHandler(ParentFrameHandler(capture: self))
                          },
                          encode: { frame, buffer in frame.write(to: &buffer) },
                          dropped: { [unowned self] frames, _ in droppedOnTheWay(frames) },
                          lost: { [unowned self] loss in linkLost(loss) }))
    }

    public var listening: [Listening] {
        [Listening("udp capture dev \(device.name) -> \(parentDescription) (at most \(table.capacity) flows, idle \(table.idle.nanoseconds / 1_000_000_000) s)")]
    }

    public func start() throws {
        let copy = dup(device.descriptor) // NIO closes its own copy; the device lives while either is open
        guard copy >= 0 else { throw IOError(errnoCode: errno, reason: "dup of the TUN device") }
        let channel: Channel
        do {
            channel = try NIOPipeBootstrap(group: loop)
                // One read is one packet; a smaller buffer would cut a large datagram short.
                .channelOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: TunDevice.mtu + 1))
                .channelInitializer { [self] channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(DevicePacketHandler(capture: self)) }
                }
                .takingOwnershipOfDescriptor(input: copy).wait()
        } catch {
            close(copy)
            throw error
        }
        let interval = TimeAmount.seconds(max(1, min(5, Int64(table.idle.nanoseconds / 4_000_000_000))))
        try loop.submit { [self] in
            deviceChannel = channel
            sweep = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in expireIdleFlows() }
        }.wait()
    }

    public func stop() {
        let closing = try? loop.submit { [self] () -> [Channel] in
            sweep?.cancel()
            stopping = true
            return [deviceChannel].compactMap { $0 }
        }.wait()
        // Datagrams the kernel dropped before they reached us (the device's queue was full):
        // read before the device goes.
        let kernelDrops = try? NetworkInterface(named: device.name).transmitDrops()
        for channel in closing ?? [] { try? channel.close().wait() }
        try? link.stop().wait()
        logger.info("\(counters.snapshot)\(kernelDrops.map { "; \($0) dropped by the kernel at \(device.name)'s queue" } ?? "")")
    }

    // MARK: - From the app

    /// One packet read from the device.
    fileprivate func fromDevice(_ packet: ByteBuffer) {
        let parsed = packet.withUnsafeReadableBytes { IPv4Packet.parse($0) }
        guard case .udp(let app, let destination, let range) = parsed else {
            counters.count(\.notCarried)
            return
        }
        let size = range.count, frame = UDPFrame.headerLength + size
        let key = FlowTable.Key(app: app, destination: destination)
        let now = NIODeadline.now()
        if let flow = table.active(key, now: now) {
            guard canSend(frame) else {
                counters.count(\.dropped)
                return
            }
            send(.datagram(flow: flow.id, payload: Self.payload(of: packet, at: range, allocator: deviceChannel?.allocator)))
            counters.datagram(\.datagramsOut, \.bytesOut, size: size)
            return
        }
        let captured = CapturedConnection(address: destination.address, port: destination.port, names: names(destination.address))
        switch captured.decide(policy, over: .udp) {
        case .refuse(let reason):
            counters.count(\.refused)
            if let held = refusals.admit() {
                logger.info("refused \(app.port) -> \(destination): \(reason)\(held > 0 ? " (and \(held) more refusals)" : "")")
            }
            writeToDevice(IPv4Packet.portUnreachable(app: app, flowDestination: destination, payloadLength: size))
        case .ask(let allowed):
            let name: String
            if case .name = allowed.host { name = allowed.hostText } else { name = "" }
            guard canSend(frame + UDPFrame.headerLength + 7 + name.utf8.count) else {
                counters.count(\.dropped)
                return
            }
            let (flow, evicted) = table.open(key, name: name, now: now)
            counters.count(\.flowsOpened)
            if let evicted {
                counters.count(\.flowsEvicted)
                send(.close(flow: evicted.id))
            }
            send(.open(flow: flow.id, destination: destination, name: name))
            send(.datagram(flow: flow.id, payload: Self.payload(of: packet, at: range, allocator: deviceChannel?.allocator)))
            counters.datagram(\.datagramsOut, \.bytesOut, size: size)
        }
    }

    /// The datagram's payload in a buffer of its own size, made only once it is sure to be sent:
    /// a slice would keep the whole 64 KiB read buffer alive while the frame waits in the
    /// stream's write buffer, whose water marks count only the slice.
    private static func payload(of packet: ByteBuffer, at range: Range<Int>, allocator: ByteBufferAllocator?) -> ByteBuffer {
        var payload = allocator?.buffer(capacity: range.count) ?? ByteBuffer()
        packet.withUnsafeReadableBytes { payload.writeBytes(UnsafeRawBufferPointer(rebasing: $0[range])) }
        return payload
    }

    /// Whether a frame of `bytes` may go now: the stream is not backed up, or (while it
    /// connects) the frames held for it stay within their bound.
    private func canSend(_ bytes: Int) -> Bool { link.canSend(bytes: bytes) }

    private func send(_ frame: UDPFrame) {
        link.send(frame, bytes: frame.maximumSize)
    }

    /// After a batch of packets from the device: one flush for all their frames.
    fileprivate func flush() { link.flush() }

    /// Frames that never reached the parent (it could not be reached, or the wait was full):
    /// their datagrams are counted as dropped, and the flows they opened are forgotten so that
    /// the app's next datagram opens them again.
    private func droppedOnTheWay(_ frames: [UDPFrame]) {
        counters.count(\.dropped, by: frames.filter { if case .datagram = $0 { true } else { false } }.count)
        for case .open(let id, _, _) in frames { table.remove(id) }
    }

    /// The stream ended, or could not be made: the parent forgot every flow, so do we.
    private func linkLost(_ loss: LinkMachine<UDPFrame>.Loss) {
        let lost = table.removeAll()
        if case .closed = loss, lost > 0, !stopping {
            logger.info("the stream to the parent ended; \(lost) open flows closed (the app's next datagram opens them again)")
        }
    }

    // MARK: - From the parent

    fileprivate func fromParent(_ frame: UDPFrame) {
        let now = NIODeadline.now()
        switch frame {
        case .datagram(let id, let payload):
            guard let flow = table.answered(id, now: now) else {
                counters.count(\.unmatched)
                return
            }
            let packet = payload.withUnsafeReadableBytes { IPv4Packet.udp(from: flow.key.destination, to: flow.key.app, payload: $0) }
            if writeToDevice(packet) { counters.datagram(\.datagramsIn, \.bytesIn, size: payload.readableBytes) }
        case .refused(let id, let reason):
            guard let flow = table.remove(id) else {
                counters.count(\.unmatched)
                return
            }
            counters.count(\.refusedByParent)
            if let held = refusals.admit() {
                logger.info("the parent refused \(flow.key.app.port) -> \(flow.key.destination): \(reason)\(held > 0 ? " (and \(held) more refusals)" : "")")
            }
            writeToDevice(IPv4Packet.portUnreachable(app: flow.key.app, flowDestination: flow.key.destination, payloadLength: 0))
        case .unreachable(let id):
            guard let flow = table.answered(id, now: now) else {
                counters.count(\.unmatched)
                return
            }
            counters.count(\.unreachable)
            writeToDevice(IPv4Packet.portUnreachable(app: flow.key.app, flowDestination: flow.key.destination, payloadLength: 0))
        case .close(let id):
            table.remove(id)
        case .open:
            break // the decoder refuses it from the parent
        }
    }

    /// The parent broke the protocol: said and counted here; the link closes the stream.
    fileprivate func protocolError(_ error: UDPFrame.ProtocolError) {
        counters.count(\.protocolErrors)
        logger.warning("closed the stream to the parent, which sent \(error)")
    }

    /// Reading the device failed: no more UDP leaves the app (its datagrams go nowhere), which
    /// the log must say, since nothing else will.
    fileprivate func deviceFailed(_ error: Error) {
        guard !stopping else { return }
        logger.error("reading \(device.name) failed, UDP is no longer carried: \(error)")
    }

    // MARK: - Upkeep

    private func expireIdleFlows() {
        let expired = table.expire(now: .now())
        guard !expired.isEmpty else { return }
        counters.count(\.flowsExpired, by: expired.count)
        guard link.channel != nil else { return }
        for flow in expired { send(.close(flow: flow.id)) }
        link.flush()
    }

    /// One packet into the device: the kernel takes it as arriving from the network.
    @discardableResult
    private func writeToDevice(_ packet: [UInt8]) -> Bool {
        let written = packet.withUnsafeBytes { write(device.descriptor, $0.baseAddress, $0.count) }
        guard written == packet.count else {
            counters.count(\.dropped)
            return false
        }
        return true
    }
}

/// The device's packets, one per read, to the capture.
private final class DevicePacketHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let capture: UDPCapture

    init(capture: UDPCapture) { self.capture = capture }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        capture.fromDevice(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        capture.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        capture.deviceFailed(error)
        context.close(promise: nil)
    }
}

/// The parent's frames to the capture; a protocol error is said here and goes on to the link's
/// own handler, which closes the stream (nothing else).
private final class ParentFrameHandler: ChannelInboundHandler {
    typealias InboundIn = UDPFrame
    private let capture: UDPCapture

    init(capture: UDPCapture) { self.capture = capture }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        capture.fromParent(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let error = error as? UDPFrame.ProtocolError { capture.protocolError(error) }
        context.fireErrorCaught(error)
    }
}
