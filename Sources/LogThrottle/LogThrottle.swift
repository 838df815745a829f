import NIOConcurrencyHelpers
import NIOCore

/// Lets a repeated log line through at most once an interval, and counts the ones it held
/// back, so that a flood (an unreachable upstream, a client asking denied names in a loop)
/// costs one line a second instead of one line per event. Shared by the relay and the DNS stub.
public final class LogThrottle: Sendable {
    private let interval: TimeAmount
    private let state = NIOLockedValueBox((last: NIODeadline.distantPast, held: 0))

    public init(interval: TimeAmount = .seconds(1)) {
        self.interval = interval
    }

    /// nil: hold this line back. Otherwise log it now; the number is how many were held back
    /// since the last line that went through.
    public func admit() -> Int? {
        state.withLockedValue { state in
            let now = NIODeadline.now()
            guard now - state.last >= interval else {
                state.held += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.held
        }
    }
}
