import Addressing
import BootConfig
import DocumentReading
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NSM
import Policy
import Services

/// An ingress with `tls` (boot step 6): enclave-init accepts the parent's connections on the
/// vsock port, terminates TLS with a key made at boot in its own memory, and dials the app on
/// 127.0.0.1:port with the plain bytes. A connection that selected ALPN
/// `enclave-attestation/1` gets a binding document instead (BindingDocuments); one that
/// selected `acme-tls/1` only completes a TLS-ALPN-01 handshake. The identity is swapped
/// (ACME issues, renews) for new connections without touching open ones.
public final class TLSIngress: Service, @unchecked Sendable {
    public let index: Int
    public let ingress: Ingress
    public let settings: IngressTLS
    public let key: TLSKey
    public let binding: BindingDocuments
    public let challenges = ChallengeCertificates()
    public let counters = TLSIngressCounters()
    private let listener: SocketListener
    private let logger: Logger
    private let current = NIOLockedValueBox<TLSServerContext?>(nil)
    private let events: @Sendable (TLSIngressEvent) -> Void

    /// Renews an ACME certificate; nil for a self-signed one.
    private var keeper: CertificateKeeper?

    /// `route`: how enclave-init reaches a host outside the way the app would (the ACME CA).
    public init(index: Int, ingress: Ingress, settings: IngressTLS, nsm: NSMCalling, emulation: VsockEmulation?, logger: Logger,
                route: @escaping @Sendable (HostPort) -> OutboundRoute? = { _ in nil },
                events: @escaping @Sendable (TLSIngressEvent) -> Void = { _ in }) throws(EphemeralIdentity.Failure) {
        self.index = index
        self.ingress = ingress
        self.settings = settings
        self.logger = logger
        self.events = events
        let key = try TLSKey()
        self.key = key
        binding = BindingDocuments(nsm: nsm, publicKeySHA256: { key.publicKeySHA256 })
        // Handshakes are CPU work: every loop of the process takes connections.
        listener = SocketListener(.vsock(port: ingress.vsockPort), emulation: emulation, group: EventLoops.shared,
                                  options: .init(allowRemoteHalfClosure: true, writeBufferWaterMark: BulkSocketOptions.writeWatermark,
                                                 receiveAllocator: BulkSocketOptions.receiveAllocator, unixSocketBuffer: BulkSocketOptions.unixSocketBuffer))
        if case .acme(let acme) = settings.certificate {
            keeper = try CertificateKeeper(ingress: self, settings: acme, route: route, logger: logger)
        }
    }

    /// Makes the first identity (self-signed, unless ACME is to be waited for with `refuse`),
    /// then listens.
    public func start() throws {
        var initial: EphemeralIdentity?
        if case .acme(let acme) = settings.certificate, acme.untilIssued == .refuse {
            initial = nil
        } else {
            initial = try EphemeralIdentity(names: settings.names, days: IngressTLS.selfSignedDays, key: key)
        }
        try install(initial)
        let appPort = Int(ingress.port)
        try listener.start { [self] channel in
            guard let context = current.withLockedValue({ $0 }) else { throw TLSServerHandler.Failure(reason: "no TLS context") }
            counters.accepted()
            try channel.pipeline.syncOperations.addHandler(try TLSServerHandler(context: context))
            try channel.pipeline.syncOperations.addHandler(IngressRouter(appPort: appPort, binding: binding, counters: counters, logger: logger))
        }
        // The CA connects to this listener for the challenge: it listens first.
        keeper?.start()
    }

    func report(_ event: TLSIngressEvent) { events(event) }

    /// Serves `identity` to every connection from now on (nil: none; handshakes then fail,
    /// except an ACME challenge's), writes the chain for the app, and reports it.
    public func install(_ identity: EphemeralIdentity?) throws {
        let context = try TLSServerContext(identity: identity, appProtocols: settings.alpn, attestation: settings.attestation,
                                           challenges: acmeChallenges)
        current.withLockedValue { $0 = context }
        guard let identity else { return }
        if let path = settings.certificateFile { try CertificateFile.write(identity.certificatePEM, to: path) }
        events(.certificate(ingress: index, issued: identity.isIssued, notAfter: identity.notAfter,
                            publicKeySHA256: Hex.string(identity.publicKeySHA256), certificateSHA256: Hex.string(identity.certificateSHA256)))
    }

    /// The identity served to new connections now.
    public var identity: EphemeralIdentity? { current.withLockedValue { $0?.identity } }

    private var acmeChallenges: ChallengeCertificates? {
        if case .acme = settings.certificate { return challenges }
        return nil
    }

    public var listening: [Listening] {
        [listener.listening("ingress[\(index)] tls \(ingress.vsockPort) -> tcp:127.0.0.1:\(ingress.port)")]
    }

    /// Stops accepting; open connections get two seconds to end, then the rest are closed,
    /// each with close_notify.
    public func stop() {
        keeper?.stop()
        listener.stop(drain: .seconds(2))
        logger.info("ingress[\(index)] tls: \(counters)")
    }
}

/// What an attested ingress reports (status events, the console).
public enum TLSIngressEvent: Sendable, Equatable {
    /// A certificate is served from now on.
    case certificate(ingress: Int, issued: Bool, notAfter: Int64, publicKeySHA256: String, certificateSHA256: String)
    /// An ACME attempt failed; the next is in `retryInSeconds`.
    case acmeFailed(ingress: Int, error: String, retryInSeconds: Int64)
}

/// Connection counts of one attested ingress, logged when it stops.
public final class TLSIngressCounters: Sendable, CustomStringConvertible {
    private let values = NIOLockedValueBox((accepted: 0, app: 0, attestation: 0, challenges: 0, failed: 0))

    func accepted() { values.withLockedValue { $0.accepted += 1 } }
    func toApp() { values.withLockedValue { $0.app += 1 } }
    func toAttestation() { values.withLockedValue { $0.attestation += 1 } }
    func challenge() { values.withLockedValue { $0.challenges += 1 } }
    func failed() { values.withLockedValue { $0.failed += 1 } }

    public var snapshot: (accepted: Int, app: Int, attestation: Int, challenges: Int, failed: Int) { values.withLockedValue { $0 } }

    public var description: String {
        let value = snapshot
        return "\(value.accepted) accepted, \(value.app) to the app, \(value.attestation) attestation, \(value.challenges) ACME challenges, "
            + "\(value.failed) failed (handshake or the app's port)"
    }
}

/// After the handshake, where the connection's plaintext goes: the app, the binding's
/// attestation request, or nowhere (an ACME challenge needs the handshake only). Reads are held
/// and early plaintext kept until then.
/// Its state lives on its channel's loop (the dial completes there).
final class IngressRouter: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer

    private let appPort: Int
    private let binding: BindingDocuments
    private let counters: TLSIngressCounters
    private let logger: Logger
    private var early: [ByteBuffer] = []
    private var decided = false
    private var inputEnded = false

    init(appPort: Int, binding: BindingDocuments, counters: TLSIngressCounters, logger: Logger) {
        self.appPort = appPort
        self.binding = binding
        self.counters = counters
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { early.append(unwrapInboundIn(data)) }

    func read(context: ChannelHandlerContext) {
        // Until the handshake is done, TLSServerHandler needs reads; after, none until routed.
        if !decided { context.read() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            inputEnded = true
            return
        }
        guard let done = event as? TLSServerHandler.HandshakeCompleted else { return context.fireUserInboundEventTriggered(event) }
        decided = true
        switch done.applicationProtocol {
        case TLSServerContext.attestationProtocol?:
            counters.toAttestation()
            let handler = AttestationHandler(source: binding, logger: logger)
            hand(context, to: handler)
        case TLSServerContext.acmeProtocol?:
            counters.challenge()
            context.close(promise: nil)
        default:
            dialApp(context)
        }
    }

    private func dialApp(_ context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let box = NIOLoopBound(context, eventLoop: loop)
        ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelOption(ChannelOptions.recvAllocator, value: BulkSocketOptions.receiveAllocator)
            .channelOption(ChannelOptions.writeBufferWaterMark, value: BulkSocketOptions.writeWatermark)
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .connect(host: "127.0.0.1", port: appPort)
            .whenComplete { [self] result in
                let context = box.value
                switch result {
                case .success(let app):
                    counters.toApp()
                    let (tlsSide, appSide) = PlainBridge.pair()
                    do {
                        try app.pipeline.syncOperations.addHandler(appSide)
                    } catch {
                        app.close(promise: nil)
                        context.close(promise: nil)
                        return
                    }
                    for buffer in early { app.write(buffer, promise: nil) }
                    early = []
                    app.flush()
                    if inputEnded { app.close(mode: .output, promise: nil) }
                    hand(context, to: tlsSide)
                case .failure(let error):
                    counters.failed()
                    logger.warning("ingress to the app's port \(appPort): \(error); closing the TLS connection")
                    context.close(promise: nil)
                }
            }
    }

    /// Puts `handler` after this one, gives it what arrived early, and leaves the pipeline.
    private func hand(_ context: ChannelHandlerContext, to handler: ChannelHandler) {
        do {
            try context.pipeline.syncOperations.addHandler(handler, position: .after(self))
        } catch {
            context.close(promise: nil)
            return
        }
        for buffer in early { context.fireChannelRead(wrapInboundOut(buffer)) }
        if !early.isEmpty { context.fireChannelReadComplete() }
        early = []
        if inputEnded, !(handler is PlainBridge) { context.fireUserInboundEventTriggered(ChannelEvent.inputClosed) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        context.channel.read()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !decided { counters.failed() }
        context.close(promise: nil)
    }
}
