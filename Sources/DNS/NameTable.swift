import Addressing
import Glibc
import NIOConcurrencyHelpers

/// The names the stub's recent answers gave to addresses: a captured connection to one of
/// them is named (and judged by the egress policy by name) as the app asked for it. Many names
/// share an address (CDNs, load balancers, S3, API gateways), so an address keeps every name
/// it was recently given, each for its own TTL (at least `minimumTTL`, so a zero-TTL answer
/// still names the connection the app opens right after it; at most `maximumTTL`), up to
/// `namesPerAddress` names an address and `capacity` names in all; past either bound the
/// names that expire first are dropped.
public final class NameTable: Sendable {
    public static let minimumTTL: UInt32 = 30
    public static let maximumTTL: UInt32 = 3600
    /// More names than this on one address are rare outside a hostile resolver; the ones that
    /// expire first give way.
    public static let namesPerAddress = 16

    private struct Entry {
        var name: String
        var expires: UInt64 // seconds on `now`'s clock
    }

    private struct State {
        /// Each address's names, the most recently given last.
        var entries: [IPAddress: [Entry]] = [:]
        var count = 0
    }

    private let state = NIOLockedValueBox(State())
    private let capacity: Int
    private let now: @Sendable () -> UInt64

    public init(capacity: Int = 16_384, now: @escaping @Sendable () -> UInt64 = NameTable.monotonicSeconds) {
        self.capacity = capacity
        self.now = now
    }

    /// Remembers that `name` resolved to `addresses` (the name the app asked, not a CNAME target).
    public func record(name: String, addresses: [(IPAddress, ttl: UInt32)]) {
        let time = now()
        state.withLockedValue { state in
            for (address, ttl) in addresses {
                let kept = min(max(ttl, Self.minimumTTL), Self.maximumTTL)
                var names = state.entries[address] ?? []
                let before = names.count
                names.removeAll { $0.name == name }
                names.append(Entry(name: name, expires: time + UInt64(kept)))
                if names.count > Self.namesPerAddress, let soonest = names.indices.min(by: { names[$0].expires < names[$1].expires }) {
                    names.remove(at: soonest)
                }
                state.count += names.count - before
                state.entries[address] = names
            }
            guard state.count > capacity else { return }
            Self.dropExpired(&state, at: time)
            guard state.count > capacity else { return }
            // Down to nine tenths at once: a flood of new names (a lying parent can send
            // thousands of addresses in one answer) then costs one sort per tenth of the table,
            // not a scan of the whole table for every name.
            Self.dropSoonestToExpire(&state, keeping: capacity * 9 / 10)
        }
    }

    /// Every name `address` was given whose answer has not expired, the most recent first.
    public func names(for address: IPAddress) -> [String] {
        let time = now()
        return state.withLockedValue { state in
            (state.entries[address] ?? []).reversed().filter { $0.expires > time }.map(\.name)
        }
    }

    private static func dropExpired(_ state: inout State, at time: UInt64) {
        state.entries = state.entries.compactMapValues { names in
            let live = names.filter { $0.expires > time }
            return live.isEmpty ? nil : live
        }
        state.count = state.entries.values.reduce(0) { $0 + $1.count }
    }

    private static func dropSoonestToExpire(_ state: inout State, keeping kept: Int) {
        let all = state.entries.flatMap { address, names in names.map { (address: address, entry: $0) } }
        let keep = all.sorted { $0.entry.expires > $1.entry.expires }.prefix(kept)
        var entries: [IPAddress: [Entry]] = [:]
        // Each address's names keep their order (most recent last), whatever the sort did.
        let kept = Set(keep.map { KeptName(address: $0.address, name: $0.entry.name) })
        for (address, names) in state.entries {
            let survivors = names.filter { kept.contains(KeptName(address: address, name: $0.name)) }
            if !survivors.isEmpty { entries[address] = survivors }
        }
        state.entries = entries
        state.count = keep.count
    }

    private struct KeptName: Hashable {
        var address: IPAddress
        var name: String
    }

    /// How many (address, name) pairs are held.
    public var count: Int { state.withLockedValue { $0.count } }

    /// Records what an answer the app is given says — from the parent, or from the stub's cache
    /// with its TTLs aged: every A and AAAA record reachable from the question's name through
    /// CNAMEs, under the question's name.
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
