import BootConfig
import CSupport
import Glibc
import Logging

/// Step 7: each `mounts[]` entry, through the hosts[] mapping that carries its traffic, retried
/// with backoff until its timeout (the parent's server or proxy may come up late).
public struct NFSMounter {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// Mounts in config order. A `required` mount that fails throws (after the ones already
    /// made are unmounted again); an optional one is logged and skipped.
    public func mountAll(_ mounts: [Mount]) throws(NFSError) -> MountedFilesystems {
        var mounted = MountedFilesystems(logger: logger)
        for (index, mount) in mounts.enumerated() {
            do throws(NFSError) {
                try self.mount(mount, index: index)
                mounted.record(mount.target)
            } catch {
                guard mount.required else {
                    logger.warning("\(error.description); optional (\"required\": false), going on without it")
                    continue
                }
                mounted.unmountAll()
                throw error
            }
        }
        return mounted
    }

    private func mount(_ mount: Mount, index: Int) throws(NFSError) {
        let source = NFSOptions.source(for: mount), options = NFSOptions.text(for: mount)
        let what = "mounts[\(index)]: nfs4 \(source) on \(mount.target)"
        if let problem = makeDirectory(mount.target) {
            throw .targetDirectory(index: index, source: source, target: mount.target, path: problem.path, errno: problem.errno)
        }
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .seconds(mount.timeoutSeconds)
        var delay = Duration.milliseconds(250)
        var attempts = 0
        while true {
            attempts += 1
            // The last attempt may use all the time left; an attempt that outlives it is
            // abandoned, and no further attempt is made (it could still complete).
            let left = max(deadline - clock.now, .milliseconds(1))
            let errorNumber = ei_mount_with_timeout(source, mount.target, "nfs4", 0, options, Int32(left.milliseconds))
            if errorNumber == 0 {
                let elapsed = clock.now - start
                logger.info("\(what): mounted (\(options)) after \(attempts) attempt\(attempts == 1 ? "" : "s"), \(elapsed.milliseconds) ms")
                return
            }
            let server = "\(mount.server):\(mount.port)"
            let reason = NFSErrors.describe(errorNumber, server: server)
            let timedOut = errorNumber == ETIMEDOUT && clock.now >= deadline
            if NFSErrors.isPermanent(errorNumber) || timedOut || clock.now + delay >= deadline {
                throw .mountFailed(index: index, source: source, target: mount.target, server: server, errno: errorNumber,
                                   attempts: attempts, elapsedMilliseconds: (clock.now - start).milliseconds,
                                   timedOutAfterSeconds: timedOut ? mount.timeoutSeconds : nil, options: options)
            }
            logger.debug("\(what): attempt \(attempts): \(reason); again in \(delay.milliseconds) ms")
            sleepFor(delay)
            delay = min(delay * 2, .seconds(5))
        }
    }

    /// mkdir -p; nil when the directory exists afterwards, else the path that failed and why
    /// (no errno: it exists but is not a directory).
    private func makeDirectory(_ path: String) -> (path: String, errno: Int32?)? {
        var current = ""
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST { return (current, errno) }
        }
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else { return (path, nil) }
        return nil
    }

    private func sleepFor(_ duration: Duration) {
        var request = timespec(tv_sec: Int(duration.components.seconds), tv_nsec: Int(duration.components.attoseconds / 1_000_000_000))
        var left = timespec()
        while nanosleep(&request, &left) != 0 && errno == EINTR { request = left }
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
