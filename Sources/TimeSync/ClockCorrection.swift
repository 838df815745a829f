import Glibc

/// What to do about a measured offset, and doing it. Deciding is pure (unit-tested); applying
/// changes the machine's clock, so it runs only in enclave-init's boot and keeper, and is tested
/// only inside the qemu guest (a namespace does not isolate CLOCK_REALTIME).
public enum ClockCorrection: Sendable, Equatable {
    /// Within `tolerance`: nothing to do.
    case none
    /// adjtime(3): the kernel runs the clock up to 0.05% faster or slower until it is made up;
    /// time never jumps, so the app sees no step backwards.
    case slew(Duration)
    /// clock_settime(2): a jump.
    case step(Duration)
    /// After the first sync, an offset larger than `clock.max_step_seconds`: the parent's clock
    /// is not followed (a parent may lie about the time); the clock is left alone.
    case refused(Duration)

    /// Smaller offsets are within what one vsock round trip can tell.
    public static let tolerance: Duration = .milliseconds(1)
    /// Before the app starts, a step hurts nobody: any offset this large is stepped.
    public static let bootStepThreshold: Duration = .milliseconds(100)
    /// While the app runs, only a large offset is stepped (slewing 0.5 s takes about 17 minutes).
    public static let runningStepThreshold: Duration = .milliseconds(500)

    public static func decide(offset: Duration, beforeTheApp: Bool, maximumStep: Duration? = nil) -> ClockCorrection {
        let size = offset < .zero ? .zero - offset : offset
        if size < tolerance { return .none }
        if !beforeTheApp, let maximumStep, size > maximumStep { return .refused(offset) }
        return size >= (beforeTheApp ? bootStepThreshold : runningStepThreshold) ? .step(offset) : .slew(offset)
    }

    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var operation: String
        public var errno: Int32

        public var description: String {
            let hint = errno == EPERM ? " (no CAP_SYS_TIME: a container without it cannot set the clock)" : ""
            return "\(operation) failed: \(String(cString: strerror(errno)))\(hint)"
        }
    }

    /// Changes CLOCK_REALTIME. Never call this outside enclave-init's boot or keeper.
    public func apply() throws(Failure) {
        switch self {
        case .none, .refused:
            return
        case .step(let offset):
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let target = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) + nanoseconds(offset)
            var next = timespec(tv_sec: Int(target / 1_000_000_000), tv_nsec: Int(target % 1_000_000_000))
            if next.tv_nsec < 0 {
                next.tv_sec -= 1
                next.tv_nsec += 1_000_000_000
            }
            guard clock_settime(CLOCK_REALTIME, &next) == 0 else { throw Failure(operation: "clock_settime", errno: errno) }
        case .slew(let offset):
            let micros = nanoseconds(offset) / 1000
            var delta = timeval(tv_sec: Int(micros / 1_000_000), tv_usec: Int(micros % 1_000_000))
            guard adjtime(&delta, nil) == 0 else { throw Failure(operation: "adjtime", errno: errno) }
        }
    }
}
