import Processes
import Glibc

/// Every relayed connection holds two descriptors: raise the soft open-files limit to the hard
/// one at boot, as service managers do, so the relay does not run out at 1,024. The app inherits
/// the raised limit.
public enum ResourceLimits {
    /// Returns (before, after) soft limits, or nil when unchanged.
    @discardableResult
    public static func raiseOpenFilesToHardLimit() -> (before: UInt, after: UInt)? {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return nil }
        let before = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        guard setrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return nil }
        return (UInt(before), UInt(limit.rlim_max))
    }

    private static var RLIMIT_NOFILE_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
