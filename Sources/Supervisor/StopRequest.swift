import Processes
import Glibc
import Synchronization

/// Who asked enclave-init to shut down.
public enum ShutdownCause: Sendable, Equatable, CustomStringConvertible {
    /// SIGTERM or SIGINT (its name).
    case signal(String)
    /// `stop` from the parent over the control port (`enclave-init parent stop`).
    case parent

    public var description: String {
        switch self {
        case .signal(let name): return "received \(name)"
        case .parent: return "the parent asked to stop (control port)"
        }
    }
}

/// A stop asked for from another thread (the control port's event loop): the supervisor looks
/// at it every time it wakes and then shuts down exactly as on SIGTERM. A flag rather than a
/// self-sent SIGTERM: enclave-init ignores signals it raised itself, and the status stream must
/// say that the parent asked, not which signal arrived. `request` also raises SIGCHLD, which
/// wakes the supervisor's sigtimedwait at once instead of at its next 100 ms tick; SIGCHLD only
/// makes it reap, which is harmless when nothing has ended.
public final class StopRequest: Sendable {
    private let requested = Atomic<Bool>(false)

    public init() {}

    /// Idempotent: the first request counts, later ones change nothing.
    public func request() {
        requested.store(true, ordering: .releasing)
        kill(getpid(), SIGCHLD)
    }

    public var isRequested: Bool { requested.load(ordering: .acquiring) }
}
