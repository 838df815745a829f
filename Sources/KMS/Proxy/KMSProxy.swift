import DocumentReading
import HTTPHead
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Services

/// The KMS endpoint for unmodified SDKs on 127.0.0.1:port (AWS_ENDPOINT_URL_KMS): the app's
/// SDK sends plain HTTP signed with any credentials; enclave-init re-signs with the role's,
/// adds Recipient to the operations that take it, unwraps the answer and hands it back as KMS
/// answers without Recipient. Everything else goes to KMS re-signed and unchanged, and KMS's
/// own errors come back as KMS sent them. Loopback only: the parent never reaches it.
public final class KMSProxy: Service, Sendable {
    public static let maximumBodyBytes = 256 * 1024

    private let client: KMSClient
    private let key: AttestedKey
    private let host: String
    private let port: Int
    private let logger: Logger
    private let listener: SocketListener
    /// KMS calls block (TLS, the NSM): at most four at once, on the shared blocking pool.
    private let calls = BlockingPool.Lane(width: 4)

    public init(client: KMSClient, key: AttestedKey, host: String = "127.0.0.1", port: Int, logger: Logger) {
        self.client = client
        self.key = key
        self.host = host
        self.port = port
        self.logger = logger
        // A client may shut its write side once the request is sent: it still gets the answer.
        listener = SocketListener(.tcp(host: host, port: UInt16(port)), options: .init(allowRemoteHalfClosure: true))
    }

    public func start() throws {
        let exchange = ProxyExchange(client: client, key: key, logger: logger)
        try listener.start { [calls] channel in try channel.pipeline.syncOperations.addHandler(KMSProxyHandler(exchange: exchange, calls: calls)) }
    }

    public var boundPort: Int? { listener.boundPort }

    public var listening: [Listening] {
        [Listening("kms endpoint http://\(host):\(boundPort ?? port) -> \(client.settings.endpoint) via \(client.route)")]
    }

    public func stop() { listener.stop() }
}

/// One request's round trip to KMS (on a worker thread): the status, content type and body the
/// app gets.
struct ProxyExchange: Sendable {
    let client: KMSClient
    let key: AttestedKey
    let logger: Logger

    struct Answer {
        var status: Int
        var contentType: String
        var body: [UInt8]
        var extra: [(String, String)] = []
    }

    func answer(_ head: RequestHead, body: [UInt8]) -> Answer {
        guard head.method == "POST", head.path == "/" else {
            return failure(404, "UnknownOperationException", "the KMS endpoint takes POST / with X-Amz-Target (an AWS SDK does this)")
        }
        guard let target = head.values(of: "X-Amz-Target").first, target.hasPrefix("TrentService."),
              case let operation = String(target.dropFirst("TrentService.".count)), !operation.isEmpty,
              operation.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("a"..."z").contains($0) }) else {
            return failure(400, "UnknownOperationException", "no X-Amz-Target: TrentService.<Operation> header")
        }
        do {
            var request = body
            var unwrapWith: RecipientOperation?
            if let recipientOperation = RecipientOperation(rawValue: operation) {
                if let rewritten = try RecipientOperation.addingRecipient(document: try key.document(), to: body) {
                    request = rewritten
                    unwrapWith = recipientOperation
                }
            }
            let reply = try client.send(operation: operation, body: request)
            var extra: [(String, String)] = []
            if let id = reply.value(of: "x-amzn-RequestId") { extra.append(("x-amzn-RequestId", id)) }
            let contentType = reply.value(of: "Content-Type") ?? "application/x-amz-json-1.1"
            guard reply.status == 200, let unwrapWith else {
                logger.debug("kms: \(operation) -> \(reply.status)")
                return Answer(status: reply.status, contentType: contentType, body: reply.body, extra: extra)
            }
            let unwrapped = try unwrapWith.unwrapping(reply.body, with: key.key)
            logger.debug("kms: \(operation) -> 200, unwrapped for the app")
            return Answer(status: 200, contentType: contentType, body: unwrapped, extra: extra)
        } catch {
            logger.warning("kms: \(operation): \(error)")
            return failure(502, "EnclaveInitKMSProxyException", "\(error)")
        }
    }

    /// An error in KMS's own shape, so that the SDK raises it with its type and message.
    private func failure(_ status: Int, _ type: String, _ message: String) -> Answer {
        Answer(status: status, contentType: "application/x-amz-json-1.1",
               body: Array(JSONOutput.object([("__type", .string(type)), ("message", .string(message))]).rendered(pretty: false).utf8))
    }
}

/// One connection: requests in turn (SDKs keep connections open), each answered once its
/// KMS call returns. While a call is in flight the connection is not read (autoRead off: the
/// kernel's buffers push back on a client that keeps sending), and what had already arrived is
/// kept only up to one whole request's limits; a client past them is cut off. Without this, a
/// local client that kept sending during a slow KMS call grew PID 1 by everything it sent.
private final class KMSProxyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let exchange: ProxyExchange
    private var reader = RequestReader(maximumBodyBytes: KMSProxy.maximumBodyBytes)
    /// A request is with KMS: input waits (no pipelining).
    private var busy = false
    private var pending: [UInt8] = []
    /// The most kept while a call is in flight: the next request whole, no more.
    private var maximumPending: Int { reader.maximumHeadBytes + KMSProxy.maximumBodyBytes }

    private let calls: BlockingPool.Lane

    init(exchange: ProxyExchange, calls: BlockingPool.Lane) {
        self.calls = calls
        self.exchange = exchange
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        if busy {
            // A read already under way when reading was turned off.
            guard pending.count + bytes.count <= maximumPending else {
                pending = []
                context.close(promise: nil)
                return
            }
            pending += bytes
            return
        }
        act(on: reader.receive(bytes), context)
    }

    private func act(on event: RequestReader.Event, _ context: ChannelHandlerContext) {
        switch event {
        case .needMore:
            break
        case .rejected(let rejection):
            let body = Array(JSONOutput.object([("__type", .string("ValidationException")), ("message", .string(rejection.reason))]).rendered(pretty: false).utf8)
            let response = HTTPResponse.bytes(status: rejection.status, body: body, contentType: "application/x-amz-json-1.1", extra: [("Connection", "close")])
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: response))).whenComplete { [channel = context.channel] _ in
                channel.close(promise: nil)
            }
        case .complete(let head, let body):
            busy = true
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
            let loop = context.eventLoop
            let contextBox = NIOLoopBound(context, eventLoop: loop)
            let closeAfter = head.values(of: "Connection").contains { $0.lowercased() == "close" } || head.version == "HTTP/1.0"
            // KMS calls block (TLS, the NSM): in the endpoint's lane, never on an event loop.
            calls.run(on: loop) { [exchange] in exchange.answer(head, body: body) }
                .whenComplete { [self] result in
                    let context = contextBox.value
                    let answer: ProxyExchange.Answer
                    switch result {
                    case .success(let value): answer = value
                    case .failure(let error): answer = .init(status: 503, contentType: "text/plain", body: Array("\(error)\n".utf8))
                    }
                    let response = HTTPResponse.bytes(status: answer.status, body: answer.body, contentType: answer.contentType,
                                                      extra: answer.extra + (closeAfter ? [("Connection", "close")] : []))
                    context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: response)), promise: nil)
                    if closeAfter { context.close(promise: nil); return }
                    busy = false
                    reader = RequestReader(maximumBodyBytes: KMSProxy.maximumBodyBytes)
                    let next = pending
                    pending = []
                    if !next.isEmpty { act(on: reader.receive(next), context) }
                    if !busy { try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true) }
                }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        if !busy { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
