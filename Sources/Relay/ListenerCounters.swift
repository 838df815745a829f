import NIOConcurrencyHelpers

/// What one listener has done, for the shutdown summary and later status reporting.
public final class ListenerCounters: Sendable {
    public struct Snapshot: Sendable, Equatable, CustomStringConvertible {
        public var accepted = 0
        public var active = 0
        /// Bytes from the connecting side to the target, and back.
        public var bytesIn = 0
        public var bytesOut = 0
        public var upstreamFailures = 0
        /// Egress decisions: allowed and relayed, denied by the policy, failed on the way
        /// (parent or destination unreachable), refused as malformed or oversize.
        public var allowed = 0
        public var denied = 0
        public var failed = 0
        public var malformed = 0

        public var description: String {
            var text = "\(accepted) accepted, \(active) active, \(bytesIn) bytes in, \(bytesOut) bytes out, \(upstreamFailures) upstream failures"
            if allowed + denied + failed + malformed > 0 {
                text += "; requests: \(allowed) allowed, \(denied) denied, \(failed) failed, \(malformed) malformed"
            }
            return text
        }
    }

    private let values = NIOLockedValueBox(Snapshot())

    public init() {}

    public var snapshot: Snapshot { values.withLockedValue { $0 } }

    /// Counts an accepted connection; returns the number now active.
    func accepted() -> Int {
        values.withLockedValue { value in
            value.accepted += 1
            value.active += 1
            return value.active
        }
    }

    /// Counts a finished connection; returns the number still active.
    func closed() -> Int {
        values.withLockedValue { value in
            value.active -= 1
            return value.active
        }
    }

    func upstreamFailed() { values.withLockedValue { $0.upstreamFailures += 1 } }

    enum Decision { case allowed, denied, failed, malformed }
    func count(_ decision: Decision) {
        values.withLockedValue {
            switch decision {
            case .allowed: $0.allowed += 1
            case .denied: $0.denied += 1
            case .failed: $0.failed += 1
            case .malformed: $0.malformed += 1
            }
        }
    }
    func countIn(_ bytes: Int) { values.withLockedValue { $0.bytesIn += bytes } }
    func countOut(_ bytes: Int) { values.withLockedValue { $0.bytesOut += bytes } }
}
