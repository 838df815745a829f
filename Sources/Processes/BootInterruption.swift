import CSupport
import Glibc
import Synchronization

/// A stop asked for while the boot is still in a step that waits: a mount retried until its
/// timeout, a KMS call, the wait for the parent half. The boot has no event loop to wake, so
/// every wait of a step goes through this: `sleep` instead of nanosleep, `run` around a call
/// that blocks in the kernel. Both return (throwing `Interrupted`) within `tick` of SIGTERM,
/// SIGINT or the control port's `stop`.
///
/// Signals are taken with a signalfd (they stay blocked, as the early constructor left them),
/// so a wait wakes at once on a signal and nothing is lost: the first one is kept and
/// reported, the step ends, and the boot exits 128+N. The control port's `stop` is a flag set
/// on another thread (`isStopRequested`), looked at every `tick`.
public final class BootInterruption: Sendable {
    /// Who interrupted, and the exit code the boot ends with.
    public struct Interrupted: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Source: Sendable, Equatable {
            case signal(number: Int32, name: String)
            /// `stop` over the control port.
            case stopRequest
        }

        public var source: Source

        public init(source: Source) { self.source = source }

        /// 128+N for a signal; a `stop` counts as SIGTERM (the documented 143).
        public var exitCode: Int32 {
            switch source {
            case .signal(let number, _): return 128 + number
            case .stopRequest: return 128 + SIGTERM
            }
        }

        public var description: String {
            switch source {
            case .signal(_, let name): return "interrupted by \(name)"
            case .stopRequest: return "interrupted: the parent asked to stop (control port)"
            }
        }
    }

    /// How often a wait looks at the stop flag (signals wake it at once).
    public static let tick: Duration = .milliseconds(20)

    private let signals: [Int32]
    private let isStopRequested: @Sendable () -> Bool
    private let first = Mutex<Interrupted?>(nil)
    /// -1 when signalfd failed (then the signals are polled every tick instead).
    private let signalDescriptor: Int32

    /// `signals` must be blocked in every thread (they are, from the early constructor on).
    public init(signals: [Int32] = [SIGTERM, SIGINT], isStopRequested: @escaping @Sendable () -> Bool = { false }) {
        self.signals = signals
        self.isStopRequested = isStopRequested
        var set = sigset_t()
        sigemptyset(&set)
        for number in signals { sigaddset(&set, number) }
        signalDescriptor = ei_signalfd(&set)
    }

    deinit {
        if signalDescriptor >= 0 { close(signalDescriptor) }
    }

    /// The interruption, once there is one (taken from the pending signals or the flag now).
    /// Latched: later calls give the same answer, and the signal is consumed only once.
    public func check() -> Interrupted? {
        first.withLock { first in
            if let first { return first }
            if let signal = Signals.takePending(signals) {
                first = Interrupted(source: .signal(number: signal.number, name: signal.name))
            } else if isStopRequested() {
                first = Interrupted(source: .stopRequest)
            }
            return first
        }
    }

    /// The interruption someone already took with `check()`, without taking a new one: for an
    /// abandoned body that must know whether its result will be used.
    public var interrupted: Interrupted? { first.withLock { $0 } }

    /// Throws when interrupted; between the steps of a boot.
    public func throwIfInterrupted() throws(Interrupted) {
        if let interrupted = check() { throw interrupted }
    }

    /// Sleeps for `duration`, or less: throws as soon as a stop arrives.
    public func sleep(_ duration: Duration) throws(Interrupted) {
        let clock = ContinuousClock()
        let deadline = clock.now + duration
        while true {
            try throwIfInterrupted()
            let left = deadline - clock.now
            guard left > .zero else { return }
            waitForSignal(upTo: min(left, Self.tick), alsoReadable: -1)
        }
    }

    /// Runs `body` on a thread of its own and returns its result, or throws as soon as a stop
    /// arrives. An interrupted body is abandoned, not cancelled: it finishes on its own (each
    /// one has its own timeouts) and its result is dropped. So it must own what it uses, and
    /// undo what it made if `interrupted` says the boot was interrupted meanwhile (a mount).
    /// A body that throws returns a Result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) throws(Interrupted) -> T {
        try throwIfInterrupted()
        let job = Job<T>()
        guard let done = job.readable, DetachedThread.start({ job.finish(body()) }) else {
            return body() // no eventfd or no thread: run it here, uninterruptible
        }
        while true {
            if let result = job.result { return result }
            try throwIfInterrupted()
            waitForSignal(upTo: Self.tick, alsoReadable: done)
        }
    }

    /// poll on the signalfd (and `other`) for at most `duration`: wakes when a signal is
    /// pending, `other` is readable, or the time is up. The signal is left for `check`.
    private func waitForSignal(upTo duration: Duration, alsoReadable other: Int32) {
        let milliseconds = Int32(max(1, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000))
        var descriptors = [pollfd(fd: signalDescriptor, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: other, events: Int16(POLLIN), revents: 0)]
        _ = poll(&descriptors, nfds_t(descriptors.count), milliseconds)
    }
}

/// One `run`: its result, and an eventfd that turns readable when it is there.
private final class Job<T: Sendable>: Sendable {
    private let stored = Mutex<T?>(nil)
    private let descriptor: Int32 = ei_eventfd()

    var readable: Int32? { descriptor >= 0 ? descriptor : nil }
    var result: T? { stored.withLock { $0 } }

    func finish(_ result: T) {
        stored.withLock { $0 = result }
        ei_eventfd_signal(descriptor)
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }
}
