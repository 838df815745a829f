import BootConfig
import NIOCore
import NIOPosix

/// One egress connection, from its request head to the relay (or a refusal with a reason).
extension RelayListener {
    func serveEgress(_ accepted: Channel, role: EgressRole) {
        let reader = HeadReader(limit: ProxyRequest.maximumHeadBytes) { [self] outcome in
            // Nothing more is read until the destination answers; later bytes wait in the
            // early buffer and are relayed after the head.
            accepted.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            switch outcome {
            case .head(let head):
                switch role {
                case .enclave(let policy, let parent): requestFromApp(head, accepted, policy: policy, parent: parent)
                case .parent(let policy, let family): requestFromEnclave(head, accepted, policy: policy, family: family)
                }
            case .tooLarge:
                refuse(accepted, .malformed, status: 431, reason: "the request head is longer than \(ProxyRequest.maximumHeadBytes) bytes")
            case .ended:
                accepted.close(promise: nil)
            }
        }
        do {
            // Reading first, then the replay: a head already held completes at once, and the
            // reader then turns reading off again until the destination answers.
            try accepted.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
            try accepted.pipeline.syncOperations.addHandlerReplayingEarlyInput(reader)
        } catch {
            accepted.close(promise: nil)
        }
    }

    // MARK: - The enclave half

    private func requestFromApp(_ head: [UInt8], _ accepted: Channel, policy: EgressPolicy, parent: Endpoint) {
        let request: ProxyRequest
        switch ProxyRequest.parse(head) {
        case .success(let parsed): request = parsed
        case .failure(let rejection): return refuse(accepted, .malformed, status: rejection.status, reason: rejection.reason)
        }
        if case .deny(let reason) = policy.decide(request.destination) {
            return refuse(accepted, .denied, status: 403, reason: "egress policy: \(reason)")
        }
        Connector.connect(to: parent, on: accepted.eventLoop, timeout: route.connectTimeout, emulation: emulation)
            .whenComplete { [self] result in
                switch result {
                case .failure(let error):
                    logUpstreamFailure(error)
                    refuse(accepted, .failed, status: 502, reason: "the parent's egress proxy at \(parent) cannot be reached: \(DialErrorText.describe(error))")
                case .success(let upstream):
                    askParent(for: request, accepted, upstream)
                }
            }
    }

    /// CONNECT to the parent half; its answer decides what the app sees. The parent resolves
    /// and dials (each address within its own connect timeout) before it answers; one that
    /// takes the connection and never answers is given up after six connect timeouts (504).
    private func askParent(for request: ProxyRequest, _ accepted: Channel, _ upstream: Channel) {
        let patience = route.connectTimeout * 6
        let gaveUp = NIOLoopBoundBox(false, eventLoop: upstream.eventLoop) // both closures run on this loop
        let timeout = upstream.eventLoop.scheduleTask(in: patience) { [self] in
            gaveUp.value = true
            refuse(accepted, .failed, status: 504, reason: "the parent's egress proxy did not answer within \(patience.nanoseconds / 1_000_000) ms")
            upstream.close(promise: nil)
        }
        let reader = HeadReader(limit: ProxyRequest.maximumHeadBytes) { [self] outcome in
            timeout.cancel()
            guard !gaveUp.value else { return }
            guard case .head(let answer) = outcome else {
                upstream.close(promise: nil)
                return refuse(accepted, .failed, status: 502, reason: "the parent's egress proxy closed without answering")
            }
            if ProxyResponse.status(of: answer) == 200 {
                counters.count(.allowed)
                logger.debug("egress: \(request.method) \(request.destination) allowed")
                if request.originForm != nil {
                    upstream.writeAndFlush(ByteBuffer(bytes: request.originHead()), promise: nil)
                } else {
                    accepted.writeAndFlush(ByteBuffer(bytes: ProxyResponse.established), promise: nil)
                }
            } else {
                // The parent's refusal, passed on as it is; the relay then carries its body.
                counters.count(.failed)
                logger.info("egress: \(request.method) \(request.destination): the parent answered \(String(decoding: answer.prefix { $0 != 13 }, as: UTF8.self))")
                accepted.writeAndFlush(ByteBuffer(bytes: answer), promise: nil)
            }
            do {
                try wire(accepted, to: upstream)
            } catch {
                accepted.close(promise: nil)
                upstream.close(promise: nil)
            }
        }
        do {
            try upstream.pipeline.syncOperations.addHandler(reader, position: .first)
            upstream.writeAndFlush(ByteBuffer(bytes: ProxyRequest.connectHead(to: request.destination)), promise: nil)
            try upstream.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        } catch {
            upstream.close(promise: nil)
            refuse(accepted, .failed, status: 502, reason: "the parent's egress proxy connection failed: \(DialErrorText.describe(error))")
        }
    }

    // MARK: - The parent half

    private struct Refusal: Error, CustomStringConvertible {
        var description: String
    }

    private func requestFromEnclave(_ head: [UInt8], _ accepted: Channel, policy: EgressPolicy, family: AddressFamily) {
        let request: ProxyRequest
        switch ProxyRequest.parse(head, connectOnly: true) {
        case .success(let parsed): request = parsed
        case .failure(let rejection): return refuse(accepted, .malformed, status: rejection.status, reason: rejection.reason)
        }
        let destination = request.destination
        if case .deny(let reason) = policy.decide(destination) {
            return refuse(accepted, .denied, status: 403, reason: "egress policy (parent): \(reason)")
        }
        // Every address the name resolves to is checked before one is dialled.
        let lookup = TargetLookup(description: destination.description) {
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
            guard !allowed.isEmpty else { throw Refusal(description: refusals.first ?? "\(destination) resolves to no address") }
            return allowed.map { .tcp(host: $0.hostText, port: $0.port) }
        }
        Connector.connect(to: .lookup(lookup), on: accepted.eventLoop, timeout: route.connectTimeout, emulation: emulation, lookups: lookups)
            .whenComplete { [self] result in
                switch result {
                case .failure(let refusal as Refusal):
                    refuse(accepted, .denied, status: 403, reason: "egress policy (parent): \(refusal)")
                case .failure(let error):
                    logUpstreamFailure(error)
                    refuse(accepted, .failed, status: 502, reason: "cannot reach \(destination): \(DialErrorText.describe(error))")
                case .success(let upstream):
                    counters.count(.allowed)
                    logger.debug("egress: CONNECT \(destination) allowed, connected to \(upstream.remoteAddress.map { "\($0)" } ?? "?")")
                    accepted.writeAndFlush(ByteBuffer(bytes: ProxyResponse.established), promise: nil)
                    do {
                        try wire(accepted, to: upstream)
                    } catch {
                        accepted.close(promise: nil)
                        upstream.close(promise: nil)
                    }
                }
            }
    }

    // MARK: - Refusals

    /// Answers with `status` and the reason, shuts our side down, reads and drops whatever the
    /// client still sends (closing at once could reset the answer away), closes within 5 s.
    func refuse(_ channel: Channel, _ decision: ListenerCounters.Decision, status: Int, reason: String) {
        counters.count(decision)
        if decision == .denied { logger.info("egress: refused (\(status)): \(reason)") } else { logger.debug("egress: refused (\(status)): \(reason)") }
        channel.eventLoop.execute {
            try? channel.pipeline.syncOperations.addHandler(DiscardInbound(), position: .first)
            channel.writeAndFlush(ByteBuffer(bytes: ProxyResponse.text(status: status, reason: reason))).whenComplete { _ in
                channel.close(mode: .output, promise: nil)
                _ = channel.setOption(ChannelOptions.autoRead, value: true)
                channel.eventLoop.scheduleTask(in: .seconds(5)) { channel.close(promise: nil) }
            }
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
