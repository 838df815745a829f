import NIOConcurrencyHelpers

/// The parent's positive answers, kept for their TTL (at most `maximumTTL`), so that an app
/// asking the same name again — most do, many times a second — is answered in the enclave
/// instead of over vsock and the parent's resolver. Served with the TTLs aged and the
/// client's id. Only complete NOERROR answers with records are kept: failures, empty answers
/// and truncated ones always go to the parent again. At most `capacity` questions.
public final class AnswerCache: Sendable {
    public static let maximumTTL: UInt32 = 300

    struct Key: Hashable {
        var question: DNSQuestion
        /// Answers to a query with EDNS0 carry an OPT record that a query without may not get.
        var edns: Bool
        /// The query's CD bit (checking disabled) changes what a validating server answers.
        var checkingDisabled: Bool

        init(_ query: DNSMessage) {
            question = query.question
            edns = query.hasEDNS
            checkingDisabled = query.flags & 0x0010 != 0
        }
    }

    private struct Entry {
        var answer: DNSMessage
        var stored: UInt64
        var expires: UInt64
    }

    private let entries = NIOLockedValueBox([Key: Entry]())
    private let capacity: Int
    private let now: @Sendable () -> UInt64

    public init(capacity: Int = 4096, now: @escaping @Sendable () -> UInt64 = NameTable.monotonicSeconds) {
        self.capacity = capacity
        self.now = now
    }

    public var count: Int { entries.withLockedValue { $0.count } }

    /// The cached answer to `query`, aged, with its id; nil on a miss or once expired.
    public func answer(_ query: DNSMessage) -> [UInt8]? {
        let time = now()
        let key = Key(query)
        return entries.withLockedValue { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.expires > time else {
                entries[key] = nil
                return nil
            }
            return entry.answer.aged(by: UInt32(time - entry.stored), id: query.id)
        }
    }

    /// Keeps `answer` to `query` if it is worth keeping.
    public func store(_ answer: DNSMessage, for query: DNSMessage) {
        guard answer.responseCode == DNSResponseCode.noError.rawValue, answer.flags & 0x0200 == 0, // not TC
              answer.question == query.question, let ttl = answer.minimumAnswerTTL(), ttl > 0 else { return }
        let time = now()
        let key = Key(query)
        entries.withLockedValue { entries in
            entries[key] = Entry(answer: answer, stored: time, expires: time + UInt64(min(ttl, Self.maximumTTL)))
            guard entries.count > capacity else { return }
            entries = entries.filter { $0.value.expires > time }
            while entries.count > capacity, let soonest = entries.min(by: { $0.value.expires < $1.value.expires }) {
                entries[soonest.key] = nil
            }
        }
    }
}
