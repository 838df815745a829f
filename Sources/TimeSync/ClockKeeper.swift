import Addressing
import Glibc
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Services

/// Keeps the enclave's clock with the parent's: once before the app (`syncBeforeTheApp`, which
/// steps a large offset), then every interval on a thread of its own (`startCorrecting`), each
/// correction logged on one line with its offset. A parent that is away costs a warning, never
/// the boot: the app can run on the enclave's own clock.
public final class ClockKeeper: Sendable {
    private let sampler: ClockSampler
    private let interval: Duration
    /// After the first sync, larger corrections are refused.
    private let maximumStep: Duration
    private let logger: Logger
    /// How long the boot waits for the parent's clock (it retries until then).
    public static let bootBudget: Duration = .seconds(2)
    private let task = NIOLockedValueBox<RepeatedTask?>(nil)
    /// The sampler waits blocking for the parent's answers: one sample at a time on the shared
    /// blocking pool, never on the event loops (which only time it).
    private let samples = BlockingPool.Lane(width: 1)

    public init(sampler: ClockSampler, interval: Duration, maximumStep: Duration = .seconds(60), logger: Logger) {
        self.sampler = sampler
        self.interval = interval
        self.maximumStep = maximumStep
        self.logger = logger
    }

    /// What the boot's step line says.
    public enum Outcome: Sendable, CustomStringConvertible {
        case corrected(ClockCorrection, ClockSampler.Measurement)
        case failed(String)

        public var description: String {
            switch self {
            case .corrected(let correction, let measurement): return ClockKeeper.describe(correction, measurement)
            case .failed(let reason): return "not synced: \(reason); the next try is in one interval"
            }
        }
    }

    /// Measures (retrying for `bootBudget` while the parent is unreachable) and corrects, stepping
    /// any offset of 100 ms or more. Logs nothing: the boot's one line says the outcome.
    public func syncBeforeTheApp() -> Outcome {
        let clock = ContinuousClock()
        let deadline = clock.now + Self.bootBudget
        while true {
            do throws(ClockSampler.Failure) {
                return correct(try sampler.measure(), beforeTheApp: true)
            } catch {
                guard case .unreachable = error, clock.now + .milliseconds(200) < deadline else {
                    return .failed("\(error)")
                }
                usleep(200_000)
            }
        }
    }

    /// Every interval from now on, until `stop`.
    public func startCorrecting() {
        let amount = TimeAmount.nanoseconds(nanoseconds(interval))
        let loop = EventLoops.one()
        // The next interval starts when a correction ends: a slow parent never stacks them up.
        let repeated = loop.scheduleRepeatedAsyncTask(initialDelay: amount, delay: amount) { [self] _ in
            samples.run(on: loop) { self.correctOnce() }
        }
        task.withLockedValue { $0 = repeated }
    }

    private func correctOnce() {
        do throws(ClockSampler.Failure) {
            switch correct(try sampler.measure(), beforeTheApp: false) {
            case .corrected(.none, let measurement): logger.debug("\(Self.describe(.none, measurement))")
            case .corrected(.refused(let offset), let measurement): logger.warning("\(Self.describe(.refused(offset), measurement)) (more than clock.max_step_seconds, \(format(maximumStep)))")
            case .corrected(let correction, let measurement): logger.notice("\(Self.describe(correction, measurement))")
            case .failed(let reason): logger.warning("\(reason); trying again in \(format(interval))")
            }
        } catch {
            logger.warning("\(error); trying again in \(format(interval))")
        }
    }

    public func stop() {
        task.withLockedValue { $0?.cancel() }
    }

    private func correct(_ measurement: ClockSampler.Measurement, beforeTheApp: Bool) -> Outcome {
        let correction = ClockCorrection.decide(offset: measurement.offset, beforeTheApp: beforeTheApp, maximumStep: maximumStep)
        do throws(ClockCorrection.Failure) {
            try correction.apply()
        } catch {
            return .failed("offset \(format(measurement.offset)) from the parent's clock, but \(error)")
        }
        return .corrected(correction, measurement)
    }

    static func describe(_ correction: ClockCorrection, _ measurement: ClockSampler.Measurement) -> String {
        let basis = "round trip \(format(measurement.roundTrip)), \(measurement.kept) of \(measurement.taken) samples"
        switch correction {
        case .none: return "offset \(format(measurement.offset)) from the parent's clock, within \(format(ClockCorrection.tolerance)): left alone (\(basis))"
        case .slew(let offset): return "slewing by \(format(offset)) to the parent's clock (\(basis))"
        case .step(let offset): return "stepped by \(format(offset)) to the parent's clock (\(basis))"
        case .refused(let offset): return "refused a step of \(format(offset)) to the parent's clock after the first sync: left alone (\(basis))"
        }
    }
}
