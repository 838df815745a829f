import Addressing
import BootConfig
import Policy

/// What the stub decides about a question before anything leaves the enclave: names of
/// `hosts[]` are answered with their alias, a name the egress policy cannot allow is refused
/// (so it never reaches the parent: no exfiltration through DNS), the rest goes to the parent.
public struct StubRules: Sendable {
    public enum Decision: Sendable, Equatable {
        /// Answered here: A records (for an A question) or none (NOERROR, no data: a mapped
        /// name has no AAAA, so IPv6-first resolvers move on at once instead of waiting).
        case answer([IPv4Address])
        case refuse(reason: String)
        case notImplemented
        case forward
    }

    /// The TTL of the stub's own answers (the mappings do not change while it runs).
    public static let localTTL: UInt32 = 300

    let local: [String: IPv4Address]
    let policy: EgressPolicy?

    public init(local: [String: IPv4Address], policy: EgressPolicy?) {
        self.local = local
        self.policy = policy
    }

    public init(config: BootConfiguration) {
        var local: [String: IPv4Address] = [:]
        for host in config.hosts {
            for name in host.names { local[HostGrammar.canonical(name)] = host.address }
        }
        self.init(local: local, policy: config.egress.map(EgressPolicy.init))
    }

    public func decide(_ query: DNSMessage) -> Decision {
        guard query.opcode == 0 else { return .notImplemented } // only standard queries
        let question = query.question
        guard question.recordClass == 1 else { return .refuse(reason: "class \(question.recordClass) is not IN") }
        if let alias = local[question.name] {
            return .answer(question.type == DNSType.a ? [alias] : [])
        }
        if let policy, case .deny(let reason) = policy.decide(resolving: question.name.split(separator: ".").map(String.init)) {
            return .refuse(reason: reason)
        }
        return .forward
    }

}
