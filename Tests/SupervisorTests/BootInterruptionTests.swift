import Foundation
import Glibc
import Processes
import Synchronization
import Testing

/// The boot's waits, cut short: a sleep and a blocking call end when a stop arrives, the
/// first stop is the one reported, and an abandoned call can tell that its result is dropped.
/// Signals here are SIGUSR2 sent to the test's own thread with it blocked there (a process-wide
/// SIGTERM would reach the test runner); the sandbox and qemu tests send the real ones.
@Suite(.serialized) struct BootInterruptionTests {
    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }

    /// Sets `flag` after `delay` on another thread.
    private func setLater(_ flag: Flag, after delay: Duration) {
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18)
            flag.set()
        }
    }

    @Test func aStopRequestEndsALongSleepAndIsTheOneReported() throws {
        let stop = Flag()
        let interruption = BootInterruption(signals: [SIGUSR2], isStopRequested: { stop.isSet })
        setLater(stop, after: .milliseconds(100))
        let start = ContinuousClock.now
        #expect(throws: BootInterruption.Interrupted(source: .stopRequest)) { try interruption.sleep(.seconds(60)) }
        #expect(ContinuousClock.now - start < .seconds(30), "the sleep ran its course")
        #expect(interruption.interrupted?.exitCode == 143)
        #expect(interruption.check() == BootInterruption.Interrupted(source: .stopRequest), "latched")
    }

    @Test func aSleepWithoutAStopSleepsItsTime() throws {
        let interruption = BootInterruption(signals: [SIGUSR2])
        let start = ContinuousClock.now
        try interruption.sleep(.milliseconds(150))
        #expect(ContinuousClock.now - start >= .milliseconds(150))
        #expect(interruption.check() == nil && interruption.interrupted == nil)
    }

    @Test func aPendingSignalEndsTheWaitAndGives128PlusItsNumber() throws {
        var set = sigset_t(), old = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGUSR2)
        pthread_sigmask(SIG_BLOCK, &set, &old)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        let interruption = BootInterruption(signals: [SIGUSR2])
        pthread_kill(pthread_self(), SIGUSR2)
        #expect(throws: BootInterruption.Interrupted(source: .signal(number: SIGUSR2, name: "SIGUSR2"))) { try interruption.sleep(.seconds(60)) }
        #expect(interruption.interrupted?.exitCode == 128 + SIGUSR2)
        // Taken once: nothing is left pending for the next wait of the thread.
        var pending = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGUSR2) == 0)
    }

    @Test func runReturnsWhatTheCallReturns() throws {
        let interruption = BootInterruption(signals: [SIGUSR2])
        #expect(try interruption.run { 6 * 7 } == 42)
    }

    /// The body blocks (a KMS call that does not answer): the stop ends the wait for it; the
    /// body, when it finishes, sees that it was abandoned.
    @Test func aStopDuringABlockingCallAbandonsItAndTheCallKnows() throws {
        let stop = Flag(), release = Flag(), sawAbandoned = Flag(), finished = Flag()
        let interruption = BootInterruption(signals: [SIGUSR2], isStopRequested: { stop.isSet })
        setLater(stop, after: .milliseconds(100))
        let start = ContinuousClock.now
        #expect(throws: BootInterruption.Interrupted.self) {
            _ = try interruption.run {
                while !release.isSet { usleep(5_000) }
                if interruption.interrupted != nil { sawAbandoned.set() }
                finished.set()
                return 1
            }
        }
        #expect(ContinuousClock.now - start < .seconds(30))
        #expect(!finished.isSet, "the wait ended before the call did")
        release.set()
        let deadline = ContinuousClock.now + .seconds(10)
        while !finished.isSet && ContinuousClock.now < deadline { usleep(5_000) }
        #expect(sawAbandoned.isSet, "the abandoned call did not see the interruption")
    }

    @Test func aRunAfterTheStopDoesNotStartTheCall() throws {
        let interruption = BootInterruption(signals: [SIGUSR2], isStopRequested: { true })
        let ran = Flag()
        #expect(throws: BootInterruption.Interrupted.self) { _ = try interruption.run { ran.set(); return 0 } }
        usleep(50_000)
        #expect(!ran.isSet)
    }
}
