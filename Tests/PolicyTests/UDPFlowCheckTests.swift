import Addressing
import Policy
import Testing

/// The parent's own check of a flow the enclave opens: the enclave's word (the name) names the
/// rule, but the address underneath is the parent's to judge.
@Suite struct UDPFlowCheckTests {
    let policy = EgressPolicy(allow: ["**.example.test:53", "**.example.test:123", "198.18.1.0/24", "169.254.169.123:123"].map { try! EgressRule.parse($0).get() },
                              deny: ["198.18.0.66"].map { try! EgressRule.parse($0).get() })

    private func decide(_ address: String, _ port: UInt16, _ name: String = "") -> EgressPolicy.Decision {
        policy.decide(udpFlowTo: IPv4Address(address)!, port: port, name: name)
    }

    @Test func aNameAllowedOnThePortOpensTheFlow() {
        #expect(decide("198.18.0.53", 53, "dns.example.test").isAllowed)
        #expect(decide("198.18.0.123", 123, "ntp.example.test").isAllowed)
        #expect(!decide("198.18.0.53", 5353, "dns.example.test").isAllowed)
        #expect(!decide("198.18.0.53", 53, "dns.elsewhere.test").isAllowed)
    }

    @Test func theAddressUnderAnAllowedNameIsStillChecked() {
        #expect(decide("198.18.0.66", 53, "dns.example.test") == .deny(reason: "dns.example.test:53 resolves to 198.18.0.66, which \"198.18.0.66\" denies"))
        guard case .deny(let reason) = decide("127.0.0.1", 53, "dns.example.test") else {
            Issue.record("a name on loopback was allowed")
            return
        }
        #expect(reason.contains("a loopback address"))
        #expect(!decide("169.254.169.254", 53, "dns.example.test").isAllowed, "the metadata service")
    }

    @Test func anAddressNeedsAnAddressRuleAndSpecialOnesAnExplicitOne() {
        #expect(decide("198.18.1.9", 9999).isAllowed)
        #expect(!decide("198.18.2.9", 9999).isAllowed)
        #expect(decide("169.254.169.123", 123).isAllowed, "named explicitly by an address rule")
        #expect(!decide("169.254.169.254", 80).isAllowed)
    }

    @Test func aNameThatIsNotOneIsRefused() {
        #expect(decide("198.18.0.53", 53, "bad name!") == .deny(reason: "\"bad name!\" is not a host name"))
    }

    /// The parent judges a flow as UDP: a TCP-only rule opens nothing here.
    @Test func aTCPOnlyRuleOpensNoFlow() {
        let tcpOnly = EgressPolicy(allow: ["tcp:**.example.test:443"].map { try! EgressRule.parse($0).get() }, deny: [])
        #expect(!tcpOnly.decide(udpFlowTo: IPv4Address("198.18.0.10")!, port: 443, name: "api.example.test").isAllowed)
        let udpOnly = EgressPolicy(allow: ["udp:**.example.test:443"].map { try! EgressRule.parse($0).get() }, deny: [])
        #expect(udpOnly.decide(udpFlowTo: IPv4Address("198.18.0.10")!, port: 443, name: "api.example.test").isAllowed)
    }
}
