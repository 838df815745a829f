import BootConfig
import CSupport
import Glibc
import Logging
import Supervisor

/// The steps of a boot, in the order they run (DESIGN.md section 2). `plan` prints the same
/// list, so what it shows and what `run` does cannot drift apart.
enum BootStep: String, CaseIterable {
    case config
    case pid1Duties = "pid-1"
    case streams
    case network
    case proxies
    case mounts
    case app
    case supervise
}

/// The boot, top to bottom. Each step logs one line with its elapsed time; a failing step ends
/// the boot with exit code 70 and says which step failed and why.
struct BootSequence {
    let options: ConfigOptions
    let logger: Logger
    let early = ei_early().pointee

    struct StepFailure: Error {
        var step: BootStep
        var reason: String
    }

    /// Runs the boot and returns enclave-init's exit code (the caller exits, or powers off as PID 1).
    func run() -> Int32 {
        logger.info("enclave-init \(BuildInfo.version) starting", metadata: ["pid": "\(getpid())"])
        if early.mounted_proc { logger.info("mounted /proc before the runtime started") }
        if early.proc_mount_errno != 0 {
            logger.warning("could not mount /proc early: \(String(cString: strerror(early.proc_mount_errno)))")
        }

        // Step 2: the config, validated as a whole before anything is touched.
        let config: BootConfiguration
        do {
            config = try step(.config) { try options.load() }
        } catch let error as ConfigError {
            Console.error(error.description)
            return InitExitCode.invalidConfig
        } catch {
            return InitExitCode.bootStepFailed
        }

        do {
            // Step 3: what AWS's init would have done, when there is no AWS init.
            if early.was_pid1 { try step(.pid1Duties) { try notImplemented(.pid1Duties, "mounts and heartbeat as PID 1") } }
            // Step 4: log and status streams to the parent.
            if config.logs != nil || config.status != nil { try step(.streams) { try notImplemented(.streams, "log and status streams") } }
            // Step 5: lo up, aliases, hostname, /etc/hosts.
            try step(.network) { try notImplemented(.network, "loopback and /etc/hosts over netlink") }
            // Step 6: every listener is up before the app starts.
            if !config.hosts.isEmpty || !config.ingress.isEmpty || config.egress != nil {
                try step(.proxies) { try notImplemented(.proxies, "vsock proxies") }
            }
            // Step 7: NFSv4 through its proxy.
            if !config.mounts.isEmpty { try step(.mounts) { try notImplemented(.mounts, "NFSv4 mounts") } }
            // Steps 8-9: spawn the app, supervise it, shut down.
            try step(.app) { try notImplemented(.app, "spawning and supervising the app") }
            return 0
        } catch let failure as StepFailure {
            logger.error("boot failed at step \(failure.step.rawValue): \(failure.reason)")
            return InitExitCode.bootStepFailed
        } catch {
            logger.error("boot failed: \(error)")
            return InitExitCode.bootStepFailed
        }
    }

    /// Runs one step and logs its duration.
    private func step<T>(_ step: BootStep, _ body: () throws -> T) throws -> T {
        let start = Self.monotonicNanoseconds()
        let result = try body()
        let elapsed = Double(Self.monotonicNanoseconds() - start) / 1_000_000
        logger.info("\(step.rawValue): done in \(elapsed.formatted(decimals: 1)) ms")
        return result
    }

    private func notImplemented(_ step: BootStep, _ what: String) throws {
        throw StepFailure(step: step, reason: "not implemented yet: \(what)")
    }

    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}

extension Double {
    func formatted(decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (self * scale).rounded()
        let whole = Int64(scaled) / Int64(scale)
        let fraction = abs(Int64(scaled) % Int64(scale))
        guard decimals > 0 else { return "\(whole)" }
        let digits = String(fraction)
        return "\(whole).\(String(repeating: "0", count: decimals - digits.count))\(digits)"
    }
}
