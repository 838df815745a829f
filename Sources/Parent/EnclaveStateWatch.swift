import Glibc
import Logging
import Processes
import Synchronization

/// With --exit-with-enclave and --enclave-name: asks nitro-cli every `interval` whether the
/// enclave is still RUNNING, on a thread of its own (a nitro-cli run may take a second; the
/// serving loop must not wait for it). Once the enclave has been seen running, a listing
/// without it, or with it in another state, means it is gone: a kernel panic, a
/// `terminate-enclave` from elsewhere. That is known seconds after it happens, where the
/// streams' silence needs --gone-after. An enclave never seen yet is waited for (the parent
/// half may start first), and a failing nitro-cli proves nothing: it is said once and the
/// streams' bound still holds.
final class EnclaveStateWatch: Sendable {
    static let defaultInterval: Duration = .seconds(5)

    private let locator: EnclaveLocator
    private let interval: Duration
    private let logger: Logger
    private struct State {
        var seenRunning = false
        var gone: String?
        var lookupFailureSaid = false
        var stopped = false
    }
    private let state = Mutex(State())

    init(locator: EnclaveLocator, interval: Duration = EnclaveStateWatch.defaultInterval, logger: Logger) {
        self.locator = locator
        self.interval = interval
        self.logger = logger
    }

    /// What nitro-cli said when the enclave it had seen running went away; nil while it runs.
    var gone: String? { state.withLock { $0.gone } }

    func start() {
        guard DetachedThread.start({ [self] in run() }) else {
            return logger.warning("cannot watch enclave \(locator.name) with nitro-cli (no thread); the status stream's silence alone tells that it is gone")
        }
    }

    func stop() { state.withLock { $0.stopped = true } }

    private func run() {
        while !state.withLock({ $0.stopped || $0.gone != nil }) {
            look()
            var left = timespec(tv_sec: Int(interval.components.seconds), tv_nsec: Int(interval.components.attoseconds / 1_000_000_000))
            var rest = timespec()
            while nanosleep(&left, &rest) != 0 && errno == EINTR { left = rest }
        }
    }

    /// One nitro-cli run, and what it means.
    func look() {
        do {
            let cid = try locator.lookUp()
            let first = state.withLock { state in
                defer { state.seenRunning = true }
                return !state.seenRunning
            }
            if first { logger.info("nitro-cli: enclave \(locator.name) is RUNNING (CID \(cid)); watching it every \(interval.components.seconds) s") }
        } catch let error as ParentError {
            switch error {
            case .noSuchEnclave, .enclaveNotRunning:
                state.withLock { state in
                    if state.seenRunning { state.gone = "nitro-cli describe-enclaves: \(error)" }
                }
            default:
                sayLookupFailureOnce(error)
            }
        } catch {
            sayLookupFailureOnce(error)
        }
    }

    private func sayLookupFailureOnce(_ error: Error) {
        let first = state.withLock { state in
            defer { state.lookupFailureSaid = true }
            return !state.lookupFailureSaid
        }
        if first { logger.warning("cannot ask nitro-cli about enclave \(locator.name): \(error); the status stream's silence alone tells that it is gone") }
    }
}
