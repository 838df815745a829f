import CSupport
import Glibc

/// The console's clock: nanoseconds since enclave-init started (CLOCK_MONOTONIC).
public enum StreamClock {
    public static func now() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) - Int64(ei_early().pointee.started_ns)
    }
}
