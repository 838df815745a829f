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

        public var description: String {
            "\(accepted) accepted, \(active) active, \(bytesIn) bytes in, \(bytesOut) bytes out, \(upstreamFailures) upstream failures"
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
    func countIn(_ bytes: Int) { values.withLockedValue { $0.bytesIn += bytes } }
    func countOut(_ bytes: Int) { values.withLockedValue { $0.bytesOut += bytes } }
}
