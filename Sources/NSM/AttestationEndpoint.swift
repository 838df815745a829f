import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// What the endpoint asks the NSM through (the device, or a test's stand-in).
public protocol NSMCalling: Sendable {
    func call(_ request: NSMRequest, on eventLoop: EventLoop) -> EventLoopFuture<NSMResponse>
}

extension NSMDevice: NSMCalling {}

/// The attestation endpoint on 127.0.0.1:port (HTTP/1.1): `POST /v1/attestation` with Enclaver's
/// JSON body answers 200 `application/cbor` with the NSM's document unchanged; 400 with a
/// one-line reason for a bad request, 503 when there is no NSM device, 502 naming the NSM's
/// error, 504 when it does not answer. The app needs neither root nor access to /dev/nsm.
public final class AttestationEndpoint: Sendable {
    public static let path = "/v1/attestation"

    private let nsm: NSMCalling
    private let logger: Logger
    private let group: MultiThreadedEventLoopGroup
    private let channel = NIOLockedValueBox<Channel?>(nil)

    public init(nsm: NSMCalling, logger: Logger) {
        self.nsm = nsm
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    /// Listens on host:port; throws (having cleaned up) when it cannot.
    public func start(host: String = "127.0.0.1", port: Int) throws {
        do {
            let bound = try ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                // A client may shut its write side once the request is sent (busybox nc, many
                // scripts): HTTP allows it, and the answer must still reach it. Without this,
                // the end of input closes the connection while the NSM is still being asked.
                .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { [nsm, logger] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(AttestationHandler(nsm: nsm, logger: logger))
                    }
                }
                .bind(host: host, port: port).wait()
            channel.withLockedValue { $0 = bound }
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    public var boundPort: Int? { channel.withLockedValue { $0?.localAddress?.port } }

    public func stop() {
        if let channel = channel.withLockedValue({ $0 }) { try? channel.close().wait() }
        try? group.syncShutdownGracefully()
    }

    /// The status and one-line reason for a failed NSM call.
    static func answer(for error: Error) -> (HTTPResponseStatus, String) {
        switch error {
        case NSMDevice.Failure.absent, NSMDevice.Failure.notAnNSM, NSMDevice.Failure.cannotOpen:
            return (.serviceUnavailable, "\(error)")
        case NSMDevice.Failure.timedOut, NSMDevice.Failure.deviceHung:
            return (.gatewayTimeout, "\(error)")
        case NSMDevice.Failure.requestTooLarge:
            return (.badRequest, "\(error)")
        default:
            return (.badGateway, "\(error)")
        }
    }
}

/// One connection: reads a request (its body at most 16 KiB), answers, closes.
private final class AttestationHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case reading(HTTPRequestHead, body: [UInt8])
        /// The request was answered already (a bad head or an oversized body); the rest is dropped.
        case answered
    }

    private let nsm: NSMCalling
    private let logger: Logger
    private var state = State.idle

    init(nsm: NSMCalling, logger: Logger) {
        self.nsm = nsm
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), .idle):
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            guard path == AttestationEndpoint.path else {
                return respond(context, .notFound, text: "no such endpoint: \(path) (POST \(AttestationEndpoint.path))")
            }
            guard head.method == .POST else {
                return respond(context, .methodNotAllowed, text: "\(head.method) is not allowed here: POST \(AttestationEndpoint.path)",
                               extra: [("Allow", "POST")])
            }
            state = .reading(head, body: [])
        case (.body(var chunk), .reading(let head, var body)):
            guard body.count + chunk.readableBytes <= AttestationRequest.maximumBodyBytes else {
                return respond(context, .badRequest, text: "the body is over \(AttestationRequest.maximumBodyBytes) bytes")
            }
            body += chunk.readBytes(length: chunk.readableBytes) ?? []
            state = .reading(head, body: body)
        case (.end, .reading(_, let body)):
            state = .answered
            attest(context, body: body)
        default:
            break // after an answer: dropped
        }
    }

    private func attest(_ context: ChannelHandlerContext, body: [UInt8]) {
        let request: NSMRequest
        switch AttestationRequest.parse(body) {
        case .success(let parsed): request = parsed
        case .failure(let bad): return respond(context, .badRequest, text: bad.reason)
        }
        let loop = context.eventLoop
        let contextBox = NIOLoopBound(context, eventLoop: loop)
        nsm.call(request, on: loop).hop(to: loop).whenComplete { [self] result in
            let context = contextBox.value
            switch result {
            case .success(.attestation(let document)):
                respond(context, .ok, body: document, contentType: "application/cbor")
            case .success(let other):
                respond(context, .badGateway, text: "the NSM answered \(other) to an attestation request")
            case .failure(let error):
                let (status, reason) = AttestationEndpoint.answer(for: error)
                logger.warning("\(status.code) \(status.reasonPhrase): \(reason)")
                respond(context, status, text: reason)
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, text: String,
                         extra: [(String, String)] = []) {
        respond(context, status, body: Array((text + "\n").utf8), contentType: "text/plain; charset=utf-8", extra: extra)
    }

    private func respond(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, body: [UInt8], contentType: String,
                         extra: [(String, String)] = []) {
        state = .answered
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", "\(body.count)"), ("Connection", "close")])
        for (name, value) in extra { headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    /// The client's input ended: once a request is complete it is answered (and the connection
    /// closed after the answer); before that, nothing will complete it, so the connection closes.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        switch state {
        case .idle, .reading: context.close(promise: nil)
        case .answered: break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
