import CSupport
import Glibc
import Logging

/// What enclave-init mounted, to unmount at shutdown in reverse order once the app and its
/// descendants are gone: sync, a normal unmount (bounded in time), a lazy one as the last resort.
public struct MountedFilesystems {
    public private(set) var targets: [String] = []
    let logger: Logger

    /// How long one unmount may take before it is given up for a lazy one.
    static let unmountTimeoutMilliseconds: Int32 = 10_000

    init(logger: Logger) {
        self.logger = logger
    }

    mutating func record(_ target: String) { targets.append(target) }

    public mutating func unmountAll() {
        guard !targets.isEmpty else { return }
        sync()
        for target in targets.reversed() {
            var result = ei_umount_with_timeout(target, 0, Self.unmountTimeoutMilliseconds)
            var tries = 1
            while result == EBUSY && tries < 5 { // a process that just ended may still hold it
                usleep(200_000)
                result = ei_umount_with_timeout(target, 0, Self.unmountTimeoutMilliseconds)
                tries += 1
            }
            if result == 0 {
                logger.info("unmounted \(target)")
                continue
            }
            let reason = result == ETIMEDOUT ? "no answer within \(Self.unmountTimeoutMilliseconds / 1000) s" : String(cString: strerror(result))
            let lazy = ei_umount_with_timeout(target, Int32(MNT_DETACH), 1000)
            if lazy == 0 {
                logger.warning("unmount \(target): \(reason); detached it instead (lazy unmount): data not yet written may be lost")
            } else {
                logger.error("unmount \(target): \(reason); the lazy unmount failed too: \(String(cString: strerror(lazy)))")
            }
        }
        targets.removeAll()
    }
}
