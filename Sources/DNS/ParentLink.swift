import Addressing
import Logging
import NIOCore
import NIOPosix
import Services

/// The stub's channel to the parent half: one connection over vsock carrying DNS-over-TCP
/// frames, many queries in flight at once, matched by an id of its own (the app's ids collide
/// across clients) and by the question, so that an answer the parent makes up for another
/// question is dropped. Every query gets an answer within `timeout`: the parent's, or
/// SERVFAIL when the parent is away, silent or speaks garbage. The connection is an on-demand
/// `ReconnectingLink` (Services): made at the first query, made again at the next one after it
/// ends; the queries waiting for it are answered SERVFAIL at once when it cannot be made. All
/// state lives on `eventLoop`.
final class ParentLink: @unchecked Sendable {
    /// Queries waiting for the parent; beyond this the stub answers SERVFAIL at once, so a
    /// flood costs bounded memory.
    static let maximumInFlight = 512
    static let connectTimeout: TimeAmount = .seconds(1)

    private struct Pending {
        var clientID: UInt16
        var question: DNSQuestion
        var promise: EventLoopPromise<[UInt8]>
        var timeout: Scheduled<Void>
        var query: DNSMessage
    }

    /// A query on its way: the link's id and the bytes written anew from what the stub judged.
    struct Outgoing {
        var id: UInt16
        var bytes: [UInt8]
    }

    let target: Endpoint
    let eventLoop: EventLoop
    let timeout: TimeAmount
    let counters: DNSCounters
    private let logger: Logger
    private var link: ReconnectingLink<Outgoing>!
    // On eventLoop only:
    private var pending: [UInt16: Pending] = [:]
    private var nextID = UInt16.random(in: 0...UInt16.max)

    init(target: Endpoint, eventLoop: EventLoop, timeout: TimeAmount, counters: DNSCounters, logger: Logger) {
        self.target = target
        self.eventLoop = eventLoop
        self.timeout = timeout
        self.counters = counters
        self.logger = logger
        link = ReconnectingLink(
            settings: .init(name: "dns", target: target, mode: .onDemand,
                            bounds: .init(items: Self.maximumInFlight, bytes: Self.maximumInFlight * 65_537),
                            connectTimeout: Self.connectTimeout, whileAway: "queries are answered SERVFAIL until it answers"),
            eventLoop: eventLoop, logger: logger,
            client: .init(pipeline: { [unowned self] channel in
                              try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(DNSFrameDecoder()))
                              try channel.pipeline.syncOperations.addHandler(ParentAnswerHandler(link: self))
                          },
                          encode: { outgoing, buffer in buffer.writeDNSFrame(outgoing.bytes) },
                          dropped: { [unowned self] outgoing, reason in
                              for query in outgoing { fail(query.id, because: "the parent is not reachable at \(target): \(reason)") }
                          },
                          lost: { [unowned self] loss in
                              guard case .closed = loss else { return }
                              for id in Array(pending.keys) { fail(id, because: "the parent closed the DNS connection") }
                          }))
    }

    /// The parent's answer to `query` with the client's id, or SERVFAIL.
    func ask(_ query: DNSMessage) -> EventLoopFuture<[UInt8]> {
        eventLoop.flatSubmit { [self] in
            guard pending.count < Self.maximumInFlight else {
                counters.count(\.serverFailures)
                return eventLoop.makeSucceededFuture(query.reply(.serverFailure))
            }
            var free = nextID
            while pending[free] != nil { free &+= 1 }
            let id = free
            nextID = id &+ 1
            let promise = eventLoop.makePromise(of: [UInt8].self)
            let timer = eventLoop.scheduleTask(in: timeout) { [self] in
                fail(id, because: "no answer from the parent within \(timeout.nanoseconds / 1_000_000) ms")
            }
            pending[id] = Pending(clientID: query.id, question: query.question, promise: promise, timeout: timer, query: query)
            // Written anew from what the stub parsed and judged, never the app's bytes.
            let bytes = query.forwardable(id: id)
            if link.send(Outgoing(id: id, bytes: bytes), bytes: bytes.count + 2) { link.flush() }
            return promise.futureResult
        }
    }

    /// A frame from the parent.
    fileprivate func received(_ bytes: [UInt8]) {
        guard case .success(let answer) = DNSMessage.parse(bytes), answer.isResponse,
              let waiting = pending[answer.id], waiting.question == answer.question else {
            counters.count(\.parentGarbage)
            return
        }
        pending[answer.id] = nil
        waiting.timeout.cancel()
        var restored = bytes
        restored[0] = UInt8(waiting.clientID >> 8)
        restored[1] = UInt8(waiting.clientID & 0xFF)
        waiting.promise.succeed(restored)
    }

    private func fail(_ id: UInt16, because reason: String) {
        guard let waiting = pending.removeValue(forKey: id) else { return }
        waiting.timeout.cancel()
        counters.count(\.serverFailures)
        logger.debug("SERVFAIL for \(waiting.question.name): \(reason)")
        waiting.promise.succeed(waiting.query.reply(.serverFailure))
    }

    func close() -> EventLoopFuture<Void> { link.stop() }
}

/// Hands the parent's frames to the link (a reset or garbage the decoder refuses reaches the
/// link's own handler, which closes the connection and hears its end).
private final class ParentAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = [UInt8]
    private let link: ParentLink

    init(link: ParentLink) { self.link = link }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        link.received(unwrapInboundIn(data))
    }
}
