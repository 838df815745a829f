import Processes
import BootConfig
import Glibc
import Logging

/// Runs the app and stays with it: forwards signals to its process group, reaps every child and
/// orphan, restarts it per policy, and shuts everything down — SIGTERM, a grace period that ends
/// as soon as nothing is left, then SIGKILL. The whole PID-1 loop, readable in one sitting.
public final class AppSupervisor {
    public struct Settings: Sendable {
        public var launch: LaunchSpec
        public var restart: App.RestartPolicy
        public var restartLimit: Int
        /// A run at least this long starts the restart count and the backoff over.
        public var restartReset: Duration
        public var grace: Duration
        public var ready: ReadinessProbe?
        /// `stop` from the control port: the same shutdown as SIGTERM.
        public var stop: StopRequest?

        public init(launch: LaunchSpec, restart: App.RestartPolicy, restartLimit: Int, restartReset: Duration = .seconds(300), grace: Duration,
                    ready: ReadinessProbe? = nil, stop: StopRequest? = nil) {
            self.launch = launch
            self.restart = restart
            self.restartLimit = restartLimit
            self.restartReset = restartReset
            self.grace = grace
            self.ready = ready
            self.stop = stop
        }
    }

    /// What happened to the app, for the status stream. Called on the supervisor's thread.
    public enum Event: Sendable {
        case started(pid: pid_t)
        case launchFailed(LaunchError)
        case ready(pid: pid_t, probe: ReadinessProbe, after: Duration)
        case notReady(pid: pid_t, probe: ReadinessProbe)
        case exited(pid: pid_t, status: TerminationStatus, restarting: Bool)
        case restarting(restart: Int, limit: Int, delay: Duration)
        case shutdownRequested(ShutdownCause)
    }

    /// Reaping runs at least this often even without SIGCHLD, so no zombie outlives it.
    static let reapInterval: Duration = .milliseconds(100)
    /// After SIGKILL, how long to wait for processes stuck in the kernel before giving up on them.
    static let killWait: Duration = .seconds(5)

    private let settings: Settings
    private let logger: Logger
    private let observe: (Event) -> Void
    private let clock = ContinuousClock()
    /// Set by the first SIGTERM/SIGINT or `stop`: no more restarts, and everything must be gone by `deadline`.
    private var shutdown: (cause: ShutdownCause, deadline: ContinuousClock.Instant)?
    /// While app.ready has neither held nor timed out for the current run of the app.
    private var readiness: (started: ContinuousClock.Instant, nextCheck: ContinuousClock.Instant)?

    public init(settings: Settings, logger: Logger, observe: @escaping (Event) -> Void = { _ in }) {
        self.settings = settings
        self.logger = logger
        self.observe = observe
    }

    /// Supervises until the app is done for good and nothing else is left; returns the exit code
    /// (the app's own, 128+N for signal N, or 126/127/70 when it could not be started).
    public func run() -> Int32 {
        var backoff = Backoff()
        var restarts = 0
        while true {
            let pid: pid_t
            switch AppLauncher.launch(settings.launch) {
            case .success(let started): pid = started
            case .failure(let error):
                logger.error("app: \(error)")
                observe(.launchFailed(error))
                terminateEverything()
                return error.exitCode
            }
            logger.info("app: started pid \(pid): \(settings.launch.command.joined(separator: " "))")
            observe(.started(pid: pid))
            let startedAt = clock.now
            if settings.ready != nil { readiness = (clock.now, clock.now) }

            let status = superviseUntilExit(pid)
            logger.notice("app: pid \(pid) \(status)")
            readiness = nil
            // A long healthy run forgives the crashes before it.
            if restarts > 0, clock.now - startedAt >= settings.restartReset {
                let ran = seconds(clock.now - startedAt), reset = seconds(settings.restartReset)
                logger.info("app: it ran \(ran) s, at least app.restart_reset_seconds (\(reset)): the restart count (\(restarts)) and the backoff start over")
                restarts = 0
                backoff = Backoff()
            }
            let restarting = shutdown == nil && shouldRestart(after: status) && restarts < settings.restartLimit
            observe(.exited(pid: pid, status: status, restarting: restarting))

            guard restarting else {
                if shutdown == nil, shouldRestart(after: status) {
                    logger.warning("app: not restarting: restart_limit \(settings.restartLimit) reached")
                }
                terminateEverything(appGroup: pid)
                return status.exitCode
            }
            kill(-pid, SIGKILL) // what the previous run left in its process group starts afresh too
            restarts += 1
            let delay = backoff.take()
            logger.notice("app: restarting in \(milliseconds(delay)) ms (restart \(restarts) of \(settings.restartLimit)) after it \(status)")
            observe(.restarting(restart: restarts, limit: settings.restartLimit, delay: delay))
            if !waitOutBackoff(delay) {
                terminateEverything()
                return status.exitCode
            }
        }
    }

    private func shouldRestart(after status: TerminationStatus) -> Bool {
        switch settings.restart {
        case .no: return false
        case .always: return true
        case .onFailure: return status != .exited(0)
        }
    }

    // MARK: - While the app runs

    private func superviseUntilExit(_ pid: pid_t) -> TerminationStatus {
        var killed = false
        while true {
            if let signal = Signals.wait(timeout: nextWakeUp(afterKill: killed)) { handle(signal, appGroup: pid) }
            if shutdown == nil, settings.stop?.isRequested == true {
                requestShutdown(.parent)
                signalGroup(pid, SIGTERM)
                logger.info("sent SIGTERM to the app's process group \(pid)")
            }
            for child in ProcessTree.reapAll() {
                if child.pid == pid { return child.status }
                logger.debug("reaped pid \(child.pid): \(child.status)")
            }
            checkReadiness(of: pid)
            if let shutdown, !killed, clock.now >= shutdown.deadline {
                logger.warning("app: still running after the \(seconds(settings.grace)) s grace period: SIGKILL")
                signalGroup(pid, SIGKILL)
                killed = true
            }
        }
    }

    /// app.ready, at most every 50 ms until it holds or its timeout passes (said once either way).
    private func checkReadiness(of pid: pid_t) {
        guard let probe = settings.ready, let state = readiness, clock.now >= state.nextCheck else { return }
        if probe.holds() {
            let after = clock.now - state.started
            logger.info("app: ready (\(probe) after \(milliseconds(after)) ms)")
            observe(.ready(pid: pid, probe: probe, after: after))
            readiness = nil
        } else if clock.now - state.started >= probe.timeout {
            logger.error("app: not ready: \(probe) did not hold within \(seconds(probe.timeout)) s (app.ready.timeout_seconds); it keeps running")
            observe(.notReady(pid: pid, probe: probe))
            readiness = nil
        } else {
            readiness = (state.started, clock.now + .milliseconds(50))
        }
    }

    private func handle(_ signal: ReceivedSignal, appGroup pid: pid_t) {
        switch signal.number {
        case SIGCHLD:
            return // reaping follows
        case _ where signal.isSelfInflicted:
            logger.debug("ignored \(signal.name) raised by enclave-init itself")
            return
        case SIGTERM, SIGINT:
            requestShutdown(.signal(signal.name))
        default:
            break
        }
        signalGroup(pid, signal.number)
        logger.info("forwarded \(signal.name) to the app's process group \(pid)")
    }

    private func requestShutdown(_ cause: ShutdownCause) {
        guard shutdown == nil else { return } // the first request set the deadline; later ones are only forwarded
        shutdown = (cause, clock.now + settings.grace)
        logger.notice("\(cause): shutting down, grace period \(seconds(settings.grace)) s")
        observe(.shutdownRequested(cause))
    }

    /// Sends to the app's process group, or to the app alone if it left its group.
    private func signalGroup(_ pid: pid_t, _ signal: Int32) {
        if kill(-pid, signal) != 0 && errno == ESRCH { kill(pid, signal) }
    }

    /// Sleeps through a restart backoff; false when a shutdown was requested meanwhile. Other
    /// signals stay pending and reach the next run of the app.
    private func waitOutBackoff(_ delay: Duration) -> Bool {
        let end = clock.now + delay
        while clock.now < end {
            let timeout = min(end - clock.now, Self.reapInterval)
            if let signal = Signals.wait(for: [SIGTERM, SIGINT, SIGCHLD], timeout: timeout), signal.number != SIGCHLD {
                requestShutdown(.signal(signal.name))
                return false
            }
            if settings.stop?.isRequested == true {
                requestShutdown(.parent)
                return false
            }
            for child in ProcessTree.reapAll() { logger.debug("reaped pid \(child.pid): \(child.status)") }
        }
        return true
    }

    // MARK: - Shutdown

    /// SIGTERM to the app's group and every remaining descendant, wait until all are gone or the
    /// grace period ends, SIGKILL the rest, reap everything.
    private func terminateEverything(appGroup: pid_t? = nil) {
        let deadline = shutdown?.deadline ?? clock.now + settings.grace
        _ = ProcessTree.reapAll()
        guard ProcessTree.hasChildren else { return }
        let count = ProcessTree.signalDescendants(SIGTERM, appGroup: appGroup)
        logger.notice("shutdown: SIGTERM to \(describe(count)) remaining")
        if waitForNoChildren(until: deadline) { return }

        let killed = ProcessTree.signalDescendants(SIGKILL, appGroup: appGroup)
        logger.warning("shutdown: SIGKILL to \(describe(killed)) still running after the grace period")
        if !waitForNoChildren(until: clock.now + Self.killWait) {
            logger.error("shutdown: processes \(ProcessTree.descendants()) survived SIGKILL (stuck in the kernel?); going on without them")
        }
    }

    private func describe(_ count: Int?) -> String {
        guard let count else { return "every process" }
        return "\(count) process\(count == 1 ? "" : "es")"
    }

    /// Reaps until no child is left (true) or the deadline passes (false). No fixed sleep: it
    /// wakes on every SIGCHLD.
    private func waitForNoChildren(until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            for child in ProcessTree.reapAll() { logger.debug("reaped pid \(child.pid): \(child.status)") }
            if !ProcessTree.hasChildren { return true }
            if clock.now >= deadline { return false }
            let timeout = min(deadline - clock.now, Self.reapInterval)
            if let signal = Signals.wait(for: [SIGCHLD, SIGTERM, SIGINT], timeout: timeout), signal.number != SIGCHLD {
                logger.notice("received \(signal.name) during shutdown: already shutting down")
            }
        }
    }

    /// Until the grace deadline, or the next periodic reap, whichever is first.
    private func nextWakeUp(afterKill killed: Bool) -> Duration {
        guard let shutdown, !killed else { return Self.reapInterval }
        return max(.zero, min(Self.reapInterval, shutdown.deadline - clock.now))
    }
}

func seconds(_ duration: Duration) -> Int64 { duration.components.seconds }
