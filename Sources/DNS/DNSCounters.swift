import NIOConcurrencyHelpers

/// What a DNS endpoint has done, for its shutdown line (stub and parent forwarder alike).
public final class DNSCounters: Sendable {
    public struct Snapshot: Sendable, Equatable, CustomStringConvertible {
        public var queries = 0
        /// Answered by the stub itself (hosts[] names).
        public var local = 0
        /// Refused by the egress policy (inside the enclave; on the parent, the names the stub
        /// should have refused).
        public var refused = 0
        /// Sent on: to the parent (stub), or to the system's resolvers (parent).
        public var forwarded = 0
        /// Answered from the stub's cache of the parent's answers.
        public var cached = 0
        public var serverFailures = 0
        public var malformed = 0
        /// Frames from the parent that answer nothing the stub asked.
        public var parentGarbage = 0

        public var description: String {
            var text = "\(queries) queries, \(local) answered locally, "
                + (cached > 0 ? "\(cached) from the cache, " : "")
                + "\(refused) refused, \(forwarded) forwarded, \(serverFailures) SERVFAIL, \(malformed) malformed"
            if parentGarbage > 0 { text += ", \(parentGarbage) unmatched answers from the parent" }
            return text
        }
    }

    private let values = NIOLockedValueBox(Snapshot())

    public init() {}

    public var snapshot: Snapshot { values.withLockedValue { $0 } }

    func count(_ field: WritableKeyPath<Snapshot, Int>) {
        values.withLockedValue { $0[keyPath: field] += 1 }
    }
}
