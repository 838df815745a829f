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

/// One egress connection: the channels, the timer and the dial, acting on what `EgressMachine`
/// decides. Everything happens on the accepted channel's event loop (the upstream is dialled
/// on it too), which is what makes the unchecked Sendable sound.
final class EgressExchange: @unchecked Sendable {
    private let accepted: Channel
    private let context: SetupContext
    private var machine: EgressMachine
    /// The connection to the parent's CONNECT server (enclave half), once dialled.
    private var upstream: Channel?
    private var patience: Scheduled<Void>?

    init(accepted: Channel, role: EgressRole, context: SetupContext) {
        self.accepted = accepted
        self.context = context
        machine = EgressMachine(role: role)
    }

    func start() {
        let reader = HeadReader(limit: ProxyRequest.maximumHeadBytes) { [self] outcome in
            // Nothing more is read until the destination answers; later bytes wait in the early
            // buffer and are relayed after the head.
            accepted.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            act(machine.headRead(outcome))
        }
        do {
            // Reading first, then the replay: a head already held completes at once, and the
            // outcome then turns reading off again until the destination answers.
            try accepted.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
            try accepted.pipeline.syncOperations.addHandlerReplayingEarlyInput(reader)
        } catch {
            accepted.close(promise: nil)
        }
    }

    /// A connection the capture rule sent here; the app's bytes wait in the early buffer.
    func startCaptured(_ connection: CapturedConnection) {
        act(machine.captured(connection))
    }

    private func act(_ action: EgressMachine.Action) {
        accepted.eventLoop.preconditionInEventLoop()
        switch action {
        case .none:
            break
        case .close:
            accepted.close(promise: nil)
        case .dialParent:
            dialParent()
        case .dialDestination(let destination):
            dialDestination(destination)
        case .sendConnect(let head):
            sendConnect(head)
        case .relay(let hand):
            guard let upstream else { return }
            relay(hand, upstream)
        case .refuse(let refusal, let closeUpstream):
            if closeUpstream { upstream?.close(promise: nil) }
            refuse(refusal)
        }
    }

    // MARK: - The enclave half

    private var parent: Endpoint? {
        switch machine.role {
        case .enclave(_, let parent), .transparent(_, let parent, _): return parent
        case .parent: return nil
        }
    }

    private func dialParent() {
        guard let parent else { return }
        Connector.connect(to: parent, on: accepted.eventLoop, timeout: context.route.connectTimeout, emulation: context.emulation)
            .whenComplete { [self] result in
                switch result {
                case .failure(let error):
                    context.upstreamFailed(error)
                    act(machine.dialFailed(.unreachable(DialErrorText.describe(error)), parent: parent))
                case .success(let channel):
                    upstream = channel
                    act(machine.dialled())
                }
            }
    }

    /// CONNECT to the parent half; its answer decides what the app sees. The parent resolves
    /// and dials (each address within its own connect timeout) before it answers; one that
    /// takes the connection and never answers is given up after six connect timeouts (504).
    private func sendConnect(_ head: [UInt8]) {
        guard let upstream else { return }
        let wait = context.route.connectTimeout * 6
        patience = upstream.eventLoop.scheduleTask(in: wait) { [self] in
            act(machine.parentTimedOut(after: wait.nanoseconds / 1_000_000))
        }
        let reader = HeadReader(limit: ProxyRequest.maximumHeadBytes) { [self] outcome in
            patience?.cancel()
            if case .head(let answer) = outcome { act(machine.parentAnswered(answer)) } else { act(machine.parentAnswered(nil)) }
        }
        do {
            try upstream.pipeline.syncOperations.addHandler(reader, position: .first)
            upstream.writeAndFlush(ByteBuffer(bytes: head), promise: nil)
            try upstream.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        } catch {
            patience?.cancel()
            act(machine.upstreamFailed(DialErrorText.describe(error)))
        }
    }

    // MARK: - The parent half

    private func dialDestination(_ destination: Destination) {
        guard case .parent(let policy, let family) = machine.role else { return }
        Connector.connect(to: Self.checkedAddresses(of: destination, policy: policy, family: family), on: accepted.eventLoop,
                          timeout: context.route.connectTimeout, emulation: context.emulation, lookups: context.lookups)
            .whenComplete { [self] result in
                switch result {
                case .failure(RelayError.refusedByPolicy(let reason)):
                    act(machine.dialFailed(.refusedByPolicy(reason)))
                case .failure(let error):
                    context.upstreamFailed(error)
                    act(machine.dialFailed(.unreachable(DialErrorText.describe(error))))
                case .success(let channel):
                    upstream = channel
                    act(machine.dialled(remote: channel.remoteAddress.map { "\($0)" }))
                }
            }
    }

    // MARK: - Both halves

    private func relay(_ hand: EgressMachine.Hand, _ upstream: Channel) {
        context.counters.count(hand.decision)
        if hand.decision == .allowed {
            context.logger.debug("egress: \(hand.note)")
        } else {
            context.logger.info("egress: \(hand.note)")
        }
        if !hand.toUpstream.isEmpty { upstream.writeAndFlush(ByteBuffer(bytes: hand.toUpstream), promise: nil) }
        if !hand.toApp.isEmpty { accepted.writeAndFlush(ByteBuffer(bytes: hand.toApp), promise: nil) }
        context.relay(accepted, upstream)
    }

    /// The addresses to dial for `destination`: a name is resolved, and every address it
    /// resolves to is checked (Policy's `dialable`) before one is dialled.
    static func checkedAddresses(of destination: Destination, policy: EgressPolicy, family: AddressFamily) -> TargetLookup {
        TargetLookup(description: destination.description) {
            let addresses: [Destination]
            switch destination.host {
            case .name:
                addresses = try SystemResolver.resolve(host: destination.hostText, port: destination.port, family: family).compactMap { endpoint in
                    guard case .tcp(let host, let port) = endpoint, let address = IPAddress(host) else { return nil }
                    return Destination(host: .address(address), port: port)
                }
            case .address:
                addresses = [destination]
            }
            switch policy.dialable(addresses, for: destination) {
            case .success(let allowed): return allowed.map { .tcp(host: $0.hostText, port: $0.port) }
            case .failure(let refusal): throw RelayError.refusedByPolicy(reason: refusal.reason)
            }
        }
    }

    // MARK: - Refusals

    /// Answers with the status and the reason, shuts our side down, reads and drops whatever
    /// the client still sends (closing at once could reset the answer away), closes within 5 s.
    /// A captured connection has no HTTP to answer with: it is reset.
    private func refuse(_ refusal: EgressMachine.Refusal) {
        context.counters.count(refusal.decision)
        if refusal.decision == .denied || refusal.reset {
            context.logger.info("egress: refused\(refusal.reset ? "" : " (\(refusal.status))"): \(refusal.reason)")
        } else {
            context.logger.debug("egress: refused (\(refusal.status)): \(refusal.reason)")
        }
        let channel = accepted
        if refusal.reset {
            // A reset tells the app at once (SO_LINGER 0, then close).
            (channel as? SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in channel.close(promise: nil) }
                ?? channel.close(promise: nil)
            return
        }
        try? channel.pipeline.syncOperations.addHandler(DiscardInbound(), position: .first)
        channel.writeAndFlush(ByteBuffer(bytes: HTTPResponse.text(status: refusal.status, reason: refusal.reason))).whenComplete { _ in
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
