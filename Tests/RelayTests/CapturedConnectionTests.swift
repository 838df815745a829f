import Addressing
import BootConfig
import Policy
@testable import Relay
import Testing

/// What the egress listener decides for a connection the capture rule redirected to it.
@Suite struct CapturedConnectionTests {
    let policy = EgressPolicy(allow: ["**.example.test", "10.0.0.0/8:5432"].map { try! EgressRule.parse($0).get() },
                              deny: ["blocked.example.test", "198.18.0.11", "**.example.test:25"].map { try! EgressRule.parse($0).get() })

    private func decide(_ address: String, _ port: UInt16, name: String? = nil) -> CapturedConnection.Decision {
        CapturedConnection(address: IPv4Address(address)!, port: port, name: name).decide(policy)
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
        #expect(refusal(decide("198.18.0.11", 443, name: "sneaky.example.test"))?.contains("sneaky.example.test:443 resolves to 198.18.0.11, which \"198.18.0.11\" denies") == true)
        // The instance metadata service and loopback are refused even for an allowed name.
        #expect(refusal(decide("169.254.169.254", 80, name: "meta.example.test"))?.contains("link-local") == true)
    }

    @Test func aNameTheTableGaveThatIsNotAHostNameIsIgnored() {
        #expect(refusal(decide("10.1.2.3", 22, name: "not a name")) != nil)
        #expect(decide("10.1.2.3", 5432, name: "..") == .ask(Destination(host: .ipv4(IPv4Address("10.1.2.3")!), port: 5432)))
    }
}
