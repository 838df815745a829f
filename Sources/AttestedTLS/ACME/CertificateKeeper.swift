import Addressing
import BootConfig
import Glibc
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Policy
import Services

/// Keeps an ACME ingress's certificate: the first one asked for when the ingress starts, each
/// renewal when a third of its validity is left (Let's Encrypt's advice: 30 days of 90), a
/// failure retried after 5 s, doubling to at most an hour, each reported. While it waits it
/// holds no thread: a timer on an event loop, the work on the blocking pool. New connections
/// get the new certificate; open ones keep theirs.
final class CertificateKeeper: @unchecked Sendable {
    private let ingress: TLSIngress
    private let client: ACMEClient
    private let logger: Logger
    private let lane = BlockingPool.Lane(width: 1)
    private let state = NIOLockedValueBox<(stopped: Bool, timer: Scheduled<Void>?, failures: Int)>((false, nil, 0))

    static let firstRetrySeconds: Int64 = 5
    static let longestRetrySeconds: Int64 = 3600

    init(ingress: TLSIngress, settings: ACMESettings, route: @escaping @Sendable (HostPort) -> OutboundRoute?, logger: Logger) throws(EphemeralIdentity.Failure) {
        self.ingress = ingress
        self.logger = logger
        let log: @Sendable (String) -> Void = { logger.info("ingress[\(ingress.index)] tls: \($0)") }
        client = ACMEClient(settings: settings, accountKey: try TLSKey(), route: route, log: log)
    }

    func start() { schedule(in: .zero) }

    func stop() {
        let timer = state.withLockedValue { state -> Scheduled<Void>? in
            state.stopped = true
            return state.timer
        }
        timer?.cancel()
    }

    private var stopped: Bool { state.withLockedValue { $0.stopped } }

    private func schedule(in delay: TimeAmount) {
        let timer = EventLoops.one().scheduleTask(in: delay) { [self] in lane.submit { [self] in attempt() } }
        let keep = state.withLockedValue { state -> Bool in
            guard !state.stopped else { return false }
            state.timer = timer
            return true
        }
        if !keep { timer.cancel() }
    }

    private func attempt() {
        guard !stopped else { return }
        let started = NIODeadline.now()
        do {
            let chain = try client.issue(names: ingress.settings.names, key: ingress.key, challenges: ingress.challenges, stopped: { [self] in stopped })
            let identity: EphemeralIdentity
            do { identity = try EphemeralIdentity(key: ingress.key, chainPEM: chain) } catch { throw ACMEFailure.malformed("\(error)") }
            do { try ingress.install(identity) } catch { throw ACMEFailure.crypto("serving the new certificate: \(error)") }
            state.withLockedValue { $0.failures = 0 }
            let now = Int64(time(nil))
            let renewAt = identity.notBefore + (identity.notAfter - identity.notBefore) * 2 / 3
            let wait = max(renewAt - now, 5)
            logger.info("ingress[\(ingress.index)] tls: ACME issued a certificate (a chain of \(1 + identity.intermediates.count)) in \((NIODeadline.now() - started).nanoseconds / 1_000_000) ms; renewing in \(wait) s")
            schedule(in: .seconds(wait))
        } catch ACMEFailure.stopped {
            return
        } catch {
            let failures = state.withLockedValue { state -> Int in
                state.failures += 1
                return state.failures
            }
            let retry = Self.retryDelay(afterFailures: failures)
            ingress.report(.acmeFailed(ingress: ingress.index, error: "\(error)", retryInSeconds: retry))
            schedule(in: .seconds(retry))
        }
    }

    /// 5 s after the first failure, doubling, at most an hour.
    static func retryDelay(afterFailures failures: Int) -> Int64 {
        min(firstRetrySeconds << Int64(min(failures - 1, 20)), longestRetrySeconds)
    }
}
