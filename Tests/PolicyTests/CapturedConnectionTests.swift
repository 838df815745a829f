import Addressing
import BootConfig
@testable import Policy
import Testing

/// What the egress listener decides for a connection the capture rule redirected to it.
@Suite struct CapturedConnectionTests {
    let policy = EgressPolicy(allow: ["**.example.test", "10.0.0.0/8:5432"].map { try! EgressRule.parse($0).get() },
                              deny: ["blocked.example.test", "198.18.0.11", "**.example.test:25"].map { try! EgressRule.parse($0).get() })

    private func decide(_ address: String, _ port: UInt16, name: String? = nil) -> CapturedConnection.Decision {
        decide(address, port, names: name.map { [$0] } ?? [])
    }

    private func decide(_ address: String, _ port: UInt16, names: [String], policy: EgressPolicy? = nil) -> CapturedConnection.Decision {
        CapturedConnection(address: IPv4Address(address)!, port: port, names: names).decide(policy ?? self.policy)
    }

    private func named(_ name: String, _ port: UInt16) -> Destination {
        Destination(host: try! Destination.parse(host: name).get(), port: port)
    }

    private static func policy(allow: [String], deny: [String] = []) -> EgressPolicy {
        EgressPolicy(allow: allow.map { try! EgressRule.parse($0).get() }, deny: deny.map { try! EgressRule.parse($0).get() })
    }

    private func refusal(_ decision: CapturedConnection.Decision) -> String? {
        if case .refuse(let reason) = decision { return reason }
        return nil
    }

    @Test func aNamedConnectionIsAskedByItsName() throws {
        let expected = Destination(host: try Destination.parse(host: "api.example.test").get(), port: 443)
        #expect(decide("198.18.0.10", 443, name: "api.example.test") == .ask(expected))
    }

    @Test func anUnnamedOneIsJudgedAndAskedByItsAddress() {
        #expect(decide("10.1.2.3", 5432) == .ask(Destination(host: .ipv4(IPv4Address("10.1.2.3")!), port: 5432)))
        #expect(refusal(decide("10.1.2.3", 22))?.contains("no allow rule matches 10.1.2.3:22") == true)
        #expect(refusal(decide("198.18.0.11", 443))?.contains("is denied by \"198.18.0.11\"") == true)
    }

    @Test func denyRulesWinByNameByPortAndByAddress() {
        #expect(refusal(decide("198.18.0.12", 443, name: "blocked.example.test"))?.contains("denied by \"blocked.example.test\"") == true)
        #expect(refusal(decide("198.18.0.10", 25, name: "api.example.test"))?.contains("denied by \"**.example.test:25\"") == true)
        #expect(refusal(decide("198.18.0.11", 443, name: "sneaky.example.test"))
                == "egress policy (captured 198.18.0.11:443, named sneaky.example.test): 198.18.0.11:443 is denied by \"198.18.0.11\"")
        // The instance metadata service and loopback are refused even for an allowed name.
        #expect(refusal(decide("169.254.169.254", 80, name: "meta.example.test"))?.contains("link-local") == true)
    }

    @Test func aNameTheTableGaveThatIsNotAHostNameIsIgnored() {
        #expect(refusal(decide("10.1.2.3", 22, name: "not a name")) != nil)
        #expect(decide("10.1.2.3", 5432, name: "..") == .ask(Destination(host: .ipv4(IPv4Address("10.1.2.3")!), port: 5432)))
    }

    // MARK: - Many names on one address

    /// CDNs, load balancers and API gateways serve many names from one address: any name the
    /// app was recently given for it that is allowed on the port lets the connection through,
    /// whichever name it resolved last.
    @Test func anyAllowedNameOfTheAddressAllowsIt() {
        let policy = Self.policy(allow: ["api.example:80", "cdn.example:8080"])
        // api.example resolved first, then cdn.example (the most recent first in the list).
        #expect(decide("198.18.0.10", 80, names: ["cdn.example", "api.example"], policy: policy) == .ask(named("api.example", 80)))
        #expect(decide("198.18.0.10", 8080, names: ["cdn.example", "api.example"], policy: policy) == .ask(named("cdn.example", 8080)))
        // Neither is allowed on 22: refused, and the reason names every name considered.
        let reason = refusal(decide("198.18.0.10", 22, names: ["cdn.example", "api.example"], policy: policy))
        #expect(reason == "egress policy (captured 198.18.0.10:22, named cdn.example, api.example): no allow rule matches cdn.example:22; "
                + "no allow rule matches api.example:22; no allow rule matches 198.18.0.10:22", "\(reason ?? "allowed")")
    }

    /// A name only an address rule lets resolve (any name may, then) shares the address of an
    /// allowed name: the allowed one still counts, and the address rule allows its own port.
    @Test func aNameThatOnlyAnAddressRuleLetsResolveTakesNothingAway() {
        let policy = Self.policy(allow: ["api.example:80", "198.18.0.20:7000"])
        #expect(decide("198.18.0.10", 80, names: ["misc.example", "api.example"], policy: policy) == .ask(named("api.example", 80)))
        #expect(decide("198.18.0.20", 7000, names: ["misc.example"], policy: policy) == .ask(Destination(host: .ipv4(IPv4Address("198.18.0.20")!), port: 7000)))
        #expect(refusal(decide("198.18.0.10", 7000, names: ["misc.example", "api.example"], policy: policy)) != nil)
    }

    /// Deny wins: an address a deny rule covers stays refused whatever names it was given, and
    /// a denied name never makes an address usable.
    @Test func aDeniedNameNeverMakesAnAddressUsable() {
        let policy = Self.policy(allow: ["**.example", "198.18.0.0/24"], deny: ["evil.example:443", "198.18.0.66"])
        // The denied name alone: refused, even though an address rule covers the address (the
        // app most likely meant the name the policy denies).
        let alone = refusal(decide("198.18.0.30", 443, names: ["evil.example"], policy: policy))
        #expect(alone?.contains("evil.example:443 is denied by \"evil.example:443\"") == true, "\(alone ?? "allowed")")
        #expect(alone?.contains("a deny rule refused a name it was given") == true, "\(alone ?? "allowed")")
        // Shared with an allowed name: that name allows it (and is what the parent is asked for).
        #expect(decide("198.18.0.30", 443, names: ["evil.example", "good.example"], policy: policy) == .ask(named("good.example", 443)))
        // An address a deny rule covers: no allowed name helps.
        #expect(refusal(decide("198.18.0.66", 443, names: ["good.example", "other.example"], policy: policy))
                == "egress policy (captured 198.18.0.66:443, named good.example, other.example): 198.18.0.66:443 is denied by \"198.18.0.66\"")
    }

    /// A captured UDP flow is judged as UDP: "tcp:" rules open nothing for it, "udp:" rules
    /// nothing for a TCP connection, and the literal's address rule follows the same transport.
    @Test func aFlowIsJudgedByItsOwnTransport() {
        let policy = Self.policy(allow: ["tcp:api.example.test:443", "udp:ntp.example.test:123", "udp:198.18.5.0/24:53"])
        let tcp = CapturedConnection(address: IPv4Address("198.18.0.10")!, port: 443, names: ["api.example.test"])
        #expect(tcp.decide(policy, over: .tcp) == .ask(named("api.example.test", 443)))
        guard case .refuse(let reason) = tcp.decide(policy, over: .udp) else { Issue.record("a TCP-only rule opened a UDP flow"); return }
        #expect(reason.contains("no allow rule matches udp:api.example.test:443"), "\(reason)")
        let ntp = CapturedConnection(address: IPv4Address("198.18.0.123")!, port: 123, names: ["ntp.example.test"])
        #expect(ntp.decide(policy, over: .udp) == .ask(named("ntp.example.test", 123)))
        #expect(ntp.decide(policy, over: .tcp) != .ask(named("ntp.example.test", 123)))
        let literal = CapturedConnection(address: IPv4Address("198.18.5.53")!, port: 53, names: [])
        #expect(literal.decide(policy, over: .udp) == .ask(Destination(host: .ipv4(IPv4Address("198.18.5.53")!), port: 53)))
        #expect(literal.decide(policy, over: .tcp) != .ask(Destination(host: .ipv4(IPv4Address("198.18.5.53")!), port: 53)))
    }
}
