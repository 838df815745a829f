import DocumentReading
import Logging
import NIOConcurrencyHelpers
import NIOCore
import HTTPHead
import NIOPosix
import Services

/// What the endpoint asks the NSM through (the device, or a test's stand-in).
public protocol NSMCalling: Sendable {
    func call(_ request: NSMRequest, on eventLoop: EventLoop) -> EventLoopFuture<NSMResponse>
}

extension NSMDevice: NSMCalling {}

/// Where an attestation request's document comes from: the NSM as asked (the local endpoint),
/// or the TLS binding's cache and limiter. A failure is an `AttestationRefusal`, or an NSM
/// error that `AttestationEndpoint.answer(for:)` turns into a status.
public protocol AttestationSource: Sendable {
    func document(for request: NSMRequest, on eventLoop: EventLoop) -> EventLoopFuture<[UInt8]>
}

/// A request the source will not serve: answered with this status and one-line reason.
public struct AttestationRefusal: Error, CustomStringConvertible {
    public var status: Int
    public var reason: String
    public var extra: [(String, String)]

    public init(status: Int, reason: String, extra: [(String, String)] = []) {
        self.status = status
        self.reason = reason
        self.extra = extra
    }

    public var description: String { reason }
}

/// The local endpoint's source: the NSM, asked exactly what the app asked, except for
/// user_data that starts with the TLS binding's prefix (`TLSBinding.userDataPrefix`). Only the
/// binding may make those: an app, or a parent reaching this endpoint through an ingress with
/// `"attestation": true`, could otherwise get a document naming a key of its choosing with a
/// client's nonce, and pass its own TLS server off as the enclave.
public struct NSMSource: AttestationSource {
    let nsm: NSMCalling

    public init(nsm: NSMCalling) {
        self.nsm = nsm
    }

    public func document(for request: NSMRequest, on eventLoop: EventLoop) -> EventLoopFuture<[UInt8]> {
        if case .attestation(let userData?, _, _) = request, userData.starts(with: TLSBinding.userDataPrefix) {
            return eventLoop.makeFailedFuture(AttestationRefusal(status: 403, reason: "user_data may not start with \"\(String(decoding: TLSBinding.userDataPrefix, as: UTF8.self))\": "
                                                                  + "that prefix is the TLS binding's, and only enclave-init's attested ingress makes it"))
        }
        return documentAllowingBinding(for: request, on: eventLoop)
    }

    /// The NSM asked as is: for the attested ingress (BindingDocuments), which sets the prefix itself.
    public func documentAllowingBinding(for request: NSMRequest, on eventLoop: EventLoop) -> EventLoopFuture<[UInt8]> {
        nsm.call(request, on: eventLoop).flatMapThrowing { response in
            guard case .attestation(let document) = response else {
                throw AttestationRefusal(status: 502, reason: "the NSM answered \(response) to an attestation request")
            }
            return document
        }
    }
}

/// The attestation endpoint on 127.0.0.1:port (HTTP/1.1): `POST /v1/attestation` with Enclaver's
/// JSON body answers 200 `application/cbor` with the NSM's document unchanged; 400 with a
/// one-line reason for a bad request, 503 when there is no NSM device, 502 naming the NSM's
/// error, 504 when it does not answer. The app needs neither root nor access to /dev/nsm.
public final class AttestationEndpoint: Service, Sendable {
    public static let path = "/v1/attestation"

    private let source: AttestationSource
    private let logger: Logger
    private let host: String
    private let port: Int
    private let listener: SocketListener

    /// `port` 0 takes any free port (tests; `boundPort` says which).
    public init(nsm: NSMCalling, host: String = "127.0.0.1", port: Int, logger: Logger) {
        self.source = NSMSource(nsm: nsm)
        self.host = host
        self.port = port
        self.logger = logger
        // A client may shut its write side once the request is sent (busybox nc, many
        // scripts): HTTP allows it, and the answer must still reach it. Without this,
        // the end of input closes the connection while the NSM is still being asked.
        listener = SocketListener(.tcp(host: host, port: UInt16(port)), options: .init(allowRemoteHalfClosure: true))
    }

    /// Listens on host:port; throws when it cannot.
    public func start() throws {
        try listener.start { [source, logger] channel in
            try channel.pipeline.syncOperations.addHandler(AttestationHandler(source: source, logger: logger))
        }
    }

    public var boundPort: Int? { listener.boundPort }

    public var listening: [Listening] {
        [Listening("attestation http://\(host):\(boundPort ?? port)\(Self.path)")]
    }

    public func stop() { listener.stop() }

    /// The status and one-line reason for a failed NSM call.
    static func answer(for error: Error) -> (status: Int, reason: String) {
        switch error {
        case let refusal as AttestationRefusal:
            return (refusal.status, refusal.reason)
        case NSMDevice.Failure.absent, NSMDevice.Failure.notAnNSM, NSMDevice.Failure.cannotOpen:
            return (503, "\(error)")
        case NSMDevice.Failure.timedOut, NSMDevice.Failure.deviceHung:
            return (504, "\(error)")
        case NSMDevice.Failure.requestTooLarge:
            return (400, "\(error)")
        default:
            return (502, "\(error)")
        }
    }
}

/// One connection: reads a request (its body at most 16 KiB), answers, closes. The local
/// endpoint's, and the attested ingress's on a connection that asked for the binding.
/// Its state lives on its channel's loop; the NSM's answer hops back there before touching it.
public final class AttestationHandler: ChannelInboundHandler, @unchecked Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private let source: AttestationSource
    private let logger: Logger
    private var reader = RequestReader(maximumBodyBytes: AttestationRequest.maximumBodyBytes)
    /// Set once the request is complete or refused: what follows is dropped.
    private var answered = false

    public init(source: AttestationSource, logger: Logger) {
        self.source = source
        self.logger = logger
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        var buffer = unwrapInboundIn(data)
        act(on: reader.receive(buffer.readBytes(length: buffer.readableBytes) ?? []), context)
    }

    private func act(on event: RequestReader.Event, _ context: ChannelHandlerContext) {
        switch event {
        case .needMore:
            break
        case .rejected(let rejection):
            respond(context, rejection.status, text: rejection.reason)
        case .complete(let head, let body):
            answered = true
            guard head.path == AttestationEndpoint.path else {
                return respond(context, 404, text: "no such endpoint: \(head.path) (POST \(AttestationEndpoint.path))")
            }
            guard head.method == "POST" else {
                return respond(context, 405, text: "\(head.method) is not allowed here: POST \(AttestationEndpoint.path)", extra: [("Allow", "POST")])
            }
            attest(context, body: body)
        }
    }

    private func attest(_ context: ChannelHandlerContext, body: [UInt8]) {
        let request: NSMRequest
        switch AttestationRequest.parse(body) {
        case .success(let parsed): request = parsed
        case .failure(let bad): return respond(context, 400, text: bad.reason)
        }
        let loop = context.eventLoop
        let contextBox = NIOLoopBound(context, eventLoop: loop)
        source.document(for: request, on: loop).hop(to: loop).whenComplete { [self] result in
            let context = contextBox.value
            switch result {
            case .success(let document):
                send(context, HTTPResponse.bytes(status: 200, body: document, contentType: "application/cbor"))
            case .failure(let error):
                let (status, reason) = AttestationEndpoint.answer(for: error)
                if !(error is AttestationRefusal) { logger.warning("\(status) \(HTTPResponse.phrase(status)): \(reason)") }
                respond(context, status, text: reason, extra: (error as? AttestationRefusal)?.extra ?? [])
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ status: Int, text: String, extra: [(String, String)] = []) {
        send(context, HTTPResponse.text(status: status, reason: text, extra: extra))
    }

    /// Answers, then closes gracefully: the write side at once, the connection when the client
    /// ends its input or after `lingering`. Closing outright while a client is still sending
    /// (a body refused by its Content-Length before it arrived) makes the kernel reset the
    /// connection, and the reset can destroy the answer before the client reads it.
    private func send(_ context: ChannelHandlerContext, _ bytes: [UInt8]) {
        answered = true
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: bytes))).whenComplete { [self] _ in
            sent = true
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: Self.lingering) { channel.close(promise: nil) }
        }
    }

    private static let lingering = TimeAmount.seconds(2)
    /// Set once the answer is written: the end of input then ends the connection.
    private var sent = false

    /// The client's input ended: a complete request is answered (and the connection closed
    /// after the answer); before that, nothing will complete it: 400, then close.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        if sent { return context.close(promise: nil) }
        guard !answered else { return }
        switch reader.inputEnded() {
        case .rejected(let rejection): respond(context, rejection.status, text: rejection.reason)
        default: context.close(promise: nil)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
