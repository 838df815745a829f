import Addressing
import CSupport
import LogThrottle
import Logging
import NIOConcurrencyHelpers
import Policy
import NIOCore
import NIOPosix
import Services

/// The parent half of `dns`: listens on the DNS vsock port, and answers each framed query from
/// the enclave with its system's resolvers (glibc's res_nsend: /etc/resolv.conf, UDP, TCP on
/// truncation), or SERVFAIL when none answers. The enclave is not trusted either: messages
/// that are not queries are dropped, and a connection has at most `inFlight` queries being
/// resolved; beyond that they are answered SERVFAIL at once. The name is judged again here by
/// the same rule the stub applies (EgressPolicy.decide(resolving:)), on the same plain
/// question (DNSMessage.parseQuery), and the query is written anew before it goes to the
/// resolvers: an enclave whose stub was bypassed or fooled still reaches no refused name.
public final class DNSForwarder: Service, Sendable {
    static let inFlight = 64

    public var listen: ListenAddress { listener.address }
    public let counters = DNSCounters()
    private let logger: Logger
    private let listener: SocketListener
    /// res_nsend blocks (up to the resolvers' timeouts): at most eight at once, on the shared
    /// blocking pool, never on the event loop.
    private let lookups = BlockingPool.Lane(width: 8)
    /// The boot JSON's egress policy; nil: none configured, every name is resolved.
    private let policy: EgressPolicy?
    private let refusalLog = LogThrottle()

    public init(listen: ListenAddress, emulation: VsockEmulation?, policy: EgressPolicy?, logger: Logger) {
        listener = SocketListener(listen, emulation: emulation)
        self.policy = policy
        self.logger = logger
    }

    public var listening: [Listening] { [listener.listening("dns \(listen) -> this machine's resolvers (/etc/resolv.conf)")] }

    /// Listens (with the vsock emulation applied); throws if it cannot.
    public func start() throws {
        try listener.start { [self] channel in
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(DNSFrameDecoder()))
            try channel.pipeline.syncOperations.addHandler(FramedQueryHandler(limit: Self.inFlight, counters: counters) { [self] query, loop in
                answer(query, on: loop)
            })
        }
    }

    /// Closes the listener and logs the counters.
    public func stop() {
        listener.stop()
        logger.info("dns \(listen): \(counters.snapshot)")
    }

    /// The answer to one query from the enclave (nil: not a query, nothing is sent).
    func answer(_ bytes: [UInt8], on eventLoop: EventLoop) -> EventLoopFuture<[UInt8]?> {
        counters.count(\.queries)
        guard case .success(let query) = DNSMessage.parseQuery(bytes), !query.isResponse else {
            counters.count(\.malformed)
            guard let id = DNSMessage.id(of: bytes), bytes[2] & 0x80 == 0 else { return eventLoop.makeSucceededFuture(nil) }
            return eventLoop.makeSucceededFuture(DNSMessage.formatError(id: id))
        }
        if let policy, case .deny(let reason) = policy.decide(resolving: query.question.name.split(separator: ".").map(String.init)) {
            counters.count(\.refused)
            if let unlogged = refusalLog.admit() {
                let more = unlogged > 0 ? " (and \(unlogged) more since the last message)" : ""
                logger.warning("refused \(query.question.name) from the enclave, which its stub should have refused: \(reason)\(more)")
            }
            return eventLoop.makeSucceededFuture(query.reply(.refused))
        }
        counters.count(\.forwarded)
        let outgoing = query.forwardable(id: query.id)
        return lookups.run(on: eventLoop) { [counters] () -> [UInt8]? in
            var answer = [UInt8](repeating: 0, count: DNSMessage.maximumLength)
            let length = ei_resolver_send(outgoing, Int32(outgoing.count), &answer, Int32(answer.count))
            guard length >= DNSMessage.headerLength else {
                counters.count(\.serverFailures)
                return query.reply(.serverFailure)
            }
            return Array(answer[0..<Int(length)])
        }.recover { [counters] _ in
            counters.count(\.serverFailures)
            return query.reply(.serverFailure)
        }
    }
}
