import HTTPHead
import Addressing
import BootConfig
import NIOCore
import NIOPosix
import Glibc
import Policy

/// The egress proxy as a connection-setup strategy (docs/design.md, 3. Wire formats: egress): each connection is
/// one `EgressExchange`, from its request head to the relay or a refusal with a reason.
struct EgressProxy: ConnectionSetup {
    let role: EgressRole

    func setUp(_ accepted: Channel, context: SetupContext) {
        EgressExchange(accepted: accepted, role: role, context: context).start()
    }
}

/// One egress connection. Everything happens on the accepted channel's event loop (the
/// upstream is dialled on it too), which is what makes the unchecked Sendable sound.
final class EgressExchange: @unchecked Sendable {
    enum State {
        /// Reading the app's (or the enclave's) request head.
        case readingRequest
        /// Dialling: the parent's CONNECT server (enclave half) or the destination (parent half).
        case dialling(ProxyRequest)
        /// Enclave half: CONNECT sent to the parent, waiting for its answer until `patience`.
        case awaitingParent(ProxyRequest, upstream: Channel, patience: Scheduled<Void>)
        /// Handed to the byte path.
        case relaying
        /// Answered with an error status; the connection closes.
        case refused
    }

    private let accepted: Channel
    private let role: EgressRole
    private let context: SetupContext
    private var state = State.readingRequest
    /// A connection the capture rule redirected: raw TCP, no HTTP to answer with, so a refusal
    /// resets it.
    private var captured = false

    init(accepted: Channel, role: EgressRole, context: SetupContext) {
        self.accepted = accepted
        self.role = role
        self.context = context
    }

    func start() {
        let reader = HeadReader(limit: ProxyRequest.maximumHeadBytes) { [self] outcome in requestHead(outcome) }
        do {
            // Reading first, then the replay: a head already held completes at once, and the
            // outcome then turns reading off again until the destination answers.
            try accepted.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
            try accepted.pipeline.syncOperations.addHandlerReplayingEarlyInput(reader)
        } catch {
            accepted.close(promise: nil)
        }
    }

    private func requestHead(_ outcome: HeadReader.Outcome) {
        guard case .readingRequest = state else { return }
        // Nothing more is read until the destination answers; later bytes wait in the early
        // buffer and are relayed after the head.
        accepted.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        switch outcome {
        case .head(let head):
            switch role {
            case .enclave(let policy, let parent), .transparent(let policy, let parent, _): requestFromApp(head, policy: policy, parent: parent)
            case .parent(let policy, let family): requestFromEnclave(head, policy: policy, family: family)
            }
        case .tooLarge:
            refuse(.malformed, status: 431, reason: "the request head is longer than \(ProxyRequest.maximumHeadBytes) bytes")
        case .ended:
            state = .refused
            accepted.close(promise: nil)
        }
    }

    // MARK: - The enclave half

    private func requestFromApp(_ head: [UInt8], policy: EgressPolicy, parent: Endpoint) {
        let request: ProxyRequest
        switch ProxyRequest.parse(head) {
        case .success(let parsed): request = parsed
        case .failure(let rejection): return refuse(.malformed, status: rejection.status, reason: rejection.reason)
        }
        if case .deny(let reason) = policy.decide(request.destination) {
            return refuse(.denied, status: 403, reason: "egress policy: \(reason)")
        }
        dialParent(parent, for: request)
    }

    /// A connection the capture rule sent here, judged by `CapturedConnection.decide`; an
    /// allowed one is asked of the parent like a CONNECT. The app's bytes wait in the early buffer.
    func startCaptured(_ connection: CapturedConnection, policy: EgressPolicy, parent: Endpoint) {
        captured = true
        switch connection.decide(policy) {
        case .refuse(let reason): refuse(.denied, status: 403, reason: reason)
        case .ask(let destination): dialParent(parent, for: ProxyRequest(method: "CONNECT", destination: destination, originForm: nil, headers: []))
        }
    }

    private func dialParent(_ parent: Endpoint, for request: ProxyRequest) {
        state = .dialling(request)
        Connector.connect(to: parent, on: accepted.eventLoop, timeout: context.route.connectTimeout, emulation: context.emulation)
            .whenComplete { [self] result in
                switch result {
                case .failure(let error):
                    context.upstreamFailed(error)
                    refuse(.failed, status: 502, reason: "the parent's egress proxy at \(parent) cannot be reached: \(DialErrorText.describe(error))")
                case .success(let upstream):
                    askParent(for: request, upstream)
                }
            }
    }

    /// CONNECT to the parent half; its answer decides what the app sees. The parent resolves
    /// and dials (each address within its own connect timeout) before it answers; one that
    /// takes the connection and never answers is given up after six connect timeouts (504).
    private func askParent(for request: ProxyRequest, _ upstream: Channel) {
        let patience = context.route.connectTimeout * 6
        let timeout = upstream.eventLoop.scheduleTask(in: patience) { [self] in
            guard case .awaitingParent = state else { return }
            refuse(.failed, status: 504, reason: "the parent's egress proxy did not answer within \(patience.nanoseconds / 1_000_000) ms")
            upstream.close(promise: nil)
        }
        state = .awaitingParent(request, upstream: upstream, patience: timeout)
        let reader = HeadReader(limit: ProxyRequest.maximumHeadBytes) { [self] outcome in parentAnswered(outcome) }
        do {
            try upstream.pipeline.syncOperations.addHandler(reader, position: .first)
            upstream.writeAndFlush(ByteBuffer(bytes: ProxyRequest.connectHead(to: request.destination)), promise: nil)
            try upstream.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        } catch {
            timeout.cancel()
            upstream.close(promise: nil)
            refuse(.failed, status: 502, reason: "the parent's egress proxy connection failed: \(DialErrorText.describe(error))")
        }
    }

    private func parentAnswered(_ outcome: HeadReader.Outcome) {
        guard case .awaitingParent(let request, let upstream, let patience) = state else { return }
        patience.cancel()
        guard case .head(let answer) = outcome else {
            upstream.close(promise: nil)
            return refuse(.failed, status: 502, reason: "the parent's egress proxy closed without answering")
        }
        if captured {
            guard HTTPResponse.status(of: answer) == 200 else {
                upstream.close(promise: nil)
                let said = String(decoding: answer.prefix { $0 != 13 }, as: UTF8.self)
                return refuse(.failed, status: 502, reason: "captured \(request.destination): the parent answered \(said)")
            }
            context.counters.count(.allowed)
            context.logger.debug("egress: captured connection to \(request.destination) allowed")
        } else if HTTPResponse.status(of: answer) == 200 {
            context.counters.count(.allowed)
            context.logger.debug("egress: \(request.method) \(request.destination) allowed")
            if request.originForm != nil {
                upstream.writeAndFlush(ByteBuffer(bytes: request.originHead()), promise: nil)
            } else {
                accepted.writeAndFlush(ByteBuffer(bytes: HTTPResponse.established), promise: nil)
            }
        } else {
            // The parent's refusal, passed on as it is; the relay then carries its body.
            context.counters.count(.failed)
            context.logger.info("egress: \(request.method) \(request.destination): the parent answered \(String(decoding: answer.prefix { $0 != 13 }, as: UTF8.self))")
            accepted.writeAndFlush(ByteBuffer(bytes: answer), promise: nil)
        }
        state = .relaying
        context.relay(accepted, upstream)
    }

    // MARK: - The parent half

    private func requestFromEnclave(_ head: [UInt8], policy: EgressPolicy, family: AddressFamily) {
        let request: ProxyRequest
        switch ProxyRequest.parse(head, connectOnly: true) {
        case .success(let parsed): request = parsed
        case .failure(let rejection): return refuse(.malformed, status: rejection.status, reason: rejection.reason)
        }
        let destination = request.destination
        if case .deny(let reason) = policy.decide(destination) {
            return refuse(.denied, status: 403, reason: "egress policy (parent): \(reason)")
        }
        state = .dialling(request)
        Connector.connect(to: Self.checkedAddresses(of: destination, policy: policy, family: family), on: accepted.eventLoop,
                          timeout: context.route.connectTimeout, emulation: context.emulation, lookups: context.lookups)
            .whenComplete { [self] result in
                switch result {
                case .failure(RelayError.refusedByPolicy(let reason)):
                    refuse(.denied, status: 403, reason: "egress policy (parent): \(reason)")
                case .failure(let error):
                    context.upstreamFailed(error)
                    refuse(.failed, status: 502, reason: "cannot reach \(destination): \(DialErrorText.describe(error))")
                case .success(let upstream):
                    context.counters.count(.allowed)
                    context.logger.debug("egress: CONNECT \(destination) allowed, connected to \(upstream.remoteAddress.map { "\($0)" } ?? "?")")
                    accepted.writeAndFlush(ByteBuffer(bytes: HTTPResponse.established), promise: nil)
                    state = .relaying
                    context.relay(accepted, upstream)
                }
            }
    }

    /// The addresses to dial for `destination`: a name is resolved, and every address it
    /// resolves to is checked before one is dialled.
    static func checkedAddresses(of destination: Destination, policy: EgressPolicy, family: AddressFamily) -> TargetLookup {
        TargetLookup(description: destination.description) {
            let addresses: [Destination]
            switch destination.host {
            case .name:
                addresses = try SystemResolver.resolve(host: destination.hostText, port: destination.port, family: family).compactMap { endpoint in
                    guard case .tcp(let host, let port) = endpoint, case .success(let parsed) = Destination.parse(host: host.contains(":") ? "[\(host)]" : host) else { return nil }
                    return Destination(host: parsed, port: port)
                }
            case .ipv4, .ipv6:
                addresses = [destination]
            }
            var refusals: [String] = []
            let allowed = addresses.filter { address in
                guard case .deny(let reason) = policy.decide(resolved: address, for: destination) else { return true }
                refusals.append(reason)
                return false
            }
            guard !allowed.isEmpty else { throw RelayError.refusedByPolicy(reason: refusals.first ?? "\(destination) resolves to no address") }
            return allowed.map { .tcp(host: $0.hostText, port: $0.port) }
        }
    }

    // MARK: - Refusals

    /// Answers with `status` and the reason, shuts our side down, reads and drops whatever the
    /// client still sends (closing at once could reset the answer away), closes within 5 s.
    private func refuse(_ decision: ListenerCounters.Decision, status: Int, reason: String) {
        accepted.eventLoop.preconditionInEventLoop()
        state = .refused
        context.counters.count(decision)
        if decision == .denied || captured {
            context.logger.info("egress: refused\(captured ? "" : " (\(status))"): \(reason)")
        } else {
            context.logger.debug("egress: refused (\(status)): \(reason)")
        }
        let channel = accepted
        if captured {
            // No HTTP to answer with: a reset tells the app at once (SO_LINGER 0, then close).
            (channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
                ?? channel.close(promise: nil)
            return
        }
        try? channel.pipeline.syncOperations.addHandler(DiscardInbound(), position: .first)
        channel.writeAndFlush(ByteBuffer(bytes: HTTPResponse.text(status: status, reason: reason))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            _ = channel.setOption(ChannelOptions.autoRead, value: true)
            channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
        }
    }
}

/// Drops every byte; closes when the peer's input ends.
final class DiscardInbound: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}
