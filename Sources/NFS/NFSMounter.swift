import BootConfig
import CSupport
import Glibc
import Logging
import Processes

/// Step 7: each `mounts[]` entry, through the hosts[] mapping that carries its traffic, retried
/// with backoff until its timeout (the parent's server or proxy may come up late). A stop
/// during an attempt or the wait between two ends the step at once (`interruption`).
public struct NFSMounter {
    let logger: Logger
    let interruption: BootInterruption?

    public init(logger: Logger, interruption: BootInterruption? = nil) {
        self.logger = logger
        self.interruption = interruption
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
                if case .interrupted = error {
                    mounted.unmountAll()
                    throw error
                }
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
            let errorNumber = try attempt(source: source, target: mount.target, options: options, within: left, index: index)
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
            do { try interruption?.sleep(delay) } catch { throw .interrupted(index: index, error) }
            delay = min(delay * 2, .seconds(5))
        }
    }

    /// One mount(2) with its deadline: its errno (0: mounted). With an interruption it runs on
    /// a thread of its own, so that a stop need not wait for it; a mount that completes after
    /// the stop was taken is undone there (nobody would unmount it otherwise).
    private func attempt(source: String, target: String, options: String, within left: Duration, index: Int) throws(NFSError) -> Int32 {
        let milliseconds = Int32(left.milliseconds)
        guard let interruption else { return ei_mount_with_timeout(source, target, "nfs4", 0, options, milliseconds) }
        do {
            return try interruption.run {
                let errorNumber = ei_mount_with_timeout(source, target, "nfs4", 0, options, milliseconds)
                if errorNumber == 0, interruption.interrupted != nil {
                    _ = ei_umount_with_timeout(target, Int32(MNT_DETACH), MountedFilesystems.unmountTimeoutMilliseconds)
                }
                return errorNumber
            }
        } catch {
            throw .interrupted(index: index, error)
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
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
