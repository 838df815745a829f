import Addressing
import Glibc
import NIOConcurrencyHelpers

/// An IP address the app may connect to.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6([UInt8])

    public var description: String {
        switch self {
        case .v4(let address): return address.description
        case .v6(let bytes): return IPv6Address.text(bytes)
        }
    }
}

/// The names the stub's recent answers gave to addresses: a captured connection to one of
/// them is named (and judged by the egress policy by name) as the app asked for it. Entries
/// live as long as their TTL (at least `minimumTTL`, so a zero-TTL answer still names the
/// connection the app opens right after it; at most `maximumTTL`), and the table holds at
/// most `capacity` addresses, dropping the ones that expire first.
public final class NameTable: Sendable {
    public static let minimumTTL: UInt32 = 30
    public static let maximumTTL: UInt32 = 3600

    private struct Entry {
        var name: String
        var expires: UInt64 // seconds on `now`'s clock
    }

    private let entries = NIOLockedValueBox([IPAddress: Entry]())
    private let capacity: Int
    private let now: @Sendable () -> UInt64

    public init(capacity: Int = 16_384, now: @escaping @Sendable () -> UInt64 = NameTable.monotonicSeconds) {
        self.capacity = capacity
        self.now = now
    }

    /// Remembers that `name` resolved to `addresses` (the name the app asked, not a CNAME target).
    public func record(name: String, addresses: [(IPAddress, ttl: UInt32)]) {
        let time = now()
        entries.withLockedValue { entries in
            for (address, ttl) in addresses {
                let kept = min(max(ttl, Self.minimumTTL), Self.maximumTTL)
                entries[address] = Entry(name: name, expires: time + UInt64(kept))
            }
            guard entries.count > capacity else { return }
            entries = entries.filter { $0.value.expires > time }
            while entries.count > capacity, let soonest = entries.min(by: { $0.value.expires < $1.value.expires }) {
                entries[soonest.key] = nil
            }
        }
    }

    /// The name `address` was last given, if that answer has not expired.
    public func name(for address: IPAddress) -> String? {
        let time = now()
        return entries.withLockedValue { entries in
            guard let entry = entries[address], entry.expires > time else { return nil }
            return entry.name
        }
    }

    public var count: Int { entries.withLockedValue { $0.count } }

    /// Records what an answer from the parent says: every A and AAAA record reachable from the
    /// question's name through CNAMEs, under the question's name.
    public func record(answer: DNSMessage) {
        guard let records = answer.answerRecords() else { return }
        var names: Set<String> = [answer.question.name]
        var found: [(IPAddress, ttl: UInt32)] = []
        // CNAMEs come before what they point to in practice; two passes cover any order.
        for _ in 0..<2 {
            for record in records {
                if case .cname(let name, let target, _) = record, names.contains(name) { names.insert(target) }
            }
        }
        for record in records {
            switch record {
            case .ipv4(let name, let address, let ttl) where names.contains(name): found.append((.v4(address), ttl))
            case .ipv6(let name, let bytes, let ttl) where names.contains(name): found.append((.v6(bytes), ttl))
            default: break
            }
        }
        if !found.isEmpty { record(name: answer.question.name, addresses: found) }
    }

    public static func monotonicSeconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec)
    }
}
