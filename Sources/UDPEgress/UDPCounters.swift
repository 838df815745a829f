import NIOConcurrencyHelpers

/// What one half's UDP egress did, for its shutdown line: datagrams and bytes each way, the
/// flows, and every datagram that was not delivered and why. Both halves keep the same set.
public final class UDPCounters: Sendable {
    public struct Snapshot: Sendable, Equatable, CustomStringConvertible {
        /// From the app towards the destination (the enclave read them from the device; the
        /// parent sent them on).
        public var datagramsOut = 0
        public var bytesOut = 0
        /// From the destination back to the app.
        public var datagramsIn = 0
        public var bytesIn = 0
        public var flowsOpened = 0
        public var flowsExpired = 0
        /// Closed to make room for a new flow past max_flows.
        public var flowsEvicted = 0
        /// Refused by this half's policy check (the enclave answers the app with ICMP).
        public var refused = 0
        /// Enclave: flows the parent's own checks refused.
        public var refusedByParent = 0
        /// ICMP port unreachable from the destination, passed to the app.
        public var unreachable = 0
        /// Dropped because the vsock stream was backed up or the parent away (UDP is lossy:
        /// never queued without bound).
        public var dropped = 0
        /// Answers for no open flow (the parent's, or on the parent a datagram after close).
        public var unmatched = 0
        /// Enclave: packets on the device that are not UDP the capture carries (other protocols,
        /// fragments); parent: none.
        public var notCarried = 0
        /// Streams closed because the peer sent something that is not a frame.
        public var protocolErrors = 0

        public var description: String {
            var text = "out \(datagramsOut) datagrams (\(bytesOut) bytes), in \(datagramsIn) datagrams (\(bytesIn) bytes); "
                + "\(flowsOpened) flows opened (\(flowsExpired) expired, \(flowsEvicted) evicted); "
                + "\(refused) refused, \(dropped) dropped"
            if refusedByParent > 0 { text += ", \(refusedByParent) refused by the parent" }
            if unreachable > 0 { text += ", \(unreachable) port unreachable" }
            if unmatched > 0 { text += ", \(unmatched) for no open flow" }
            if notCarried > 0 { text += ", \(notCarried) packets not carried (not UDP, or fragments)" }
            if protocolErrors > 0 { text += ", \(protocolErrors) streams closed on a protocol error" }
            return text
        }
    }

    private let values = NIOLockedValueBox(Snapshot())

    public init() {}

    public var snapshot: Snapshot { values.withLockedValue { $0 } }

    func count(_ field: WritableKeyPath<Snapshot, Int>, by amount: Int = 1) {
        values.withLockedValue { $0[keyPath: field] += amount }
    }

    /// A datagram and its bytes, in one step.
    func datagram(_ datagrams: WritableKeyPath<Snapshot, Int>, _ bytes: WritableKeyPath<Snapshot, Int>, size: Int) {
        values.withLockedValue {
            $0[keyPath: datagrams] += 1
            $0[keyPath: bytes] += size
        }
    }
}
