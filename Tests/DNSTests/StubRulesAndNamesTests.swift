import Addressing
import BootConfig
@testable import DNS
import NIOConcurrencyHelpers
import Policy
import Testing

@Suite struct StubRulesAndNamesTests {
    private func query(_ name: String, type: UInt16 = 1) throws -> DNSMessage { try DNSMessage.parse(DNSWire.query(name, type: type)).get() }

    private func rules(allow: [String] = [], deny: [String] = [], policy: Bool = true) -> StubRules {
        let parse = { (texts: [String]) in texts.map { try! EgressRule.parse($0).get() } }
        return StubRules(local: ["kms.example": IPv4Address("127.0.0.2")!],
                         policy: policy ? EgressPolicy(allow: parse(allow), deny: parse(deny)) : nil)
    }

    @Test func mappedNamesAreAnsweredHereWithTheirAliasAndNoAAAA() throws {
        let stub = rules()
        #expect(stub.decide(try query("KMS.example")) == .answer([IPv4Address("127.0.0.2")!]))
        #expect(stub.decide(try query("kms.example", type: 28)) == .answer([]))
        #expect(stub.decide(try query("kms.example", type: 16)) == .answer([]))
    }

    @Test func namesThePolicyCannotAllowAreRefusedAndTheRestForwarded() throws {
        let stub = rules(allow: ["**.amazonaws.com", "api.example:443"], deny: ["bad.amazonaws.com", "auth.amazonaws.com:443"])
        #expect(stub.decide(try query("s3.us-east-1.amazonaws.com")) == .forward)
        #expect(stub.decide(try query("api.example")) == .forward) // a port rule still lets the name resolve
        #expect(stub.decide(try query("auth.amazonaws.com")) == .forward) // denied on one port only
        guard case .refuse(let reason) = stub.decide(try query("bad.amazonaws.com")) else { Issue.record("not refused"); return }
        #expect(reason.contains("denied by \"bad.amazonaws.com\""))
        guard case .refuse = stub.decide(try query("exfiltrate.attacker.example")) else { Issue.record("not refused"); return }
        // With an address rule, any name may resolve: the connection is judged by its address.
        #expect(rules(allow: ["10.0.0.0/8"]).decide(try query("db.internal")) == .forward)
        // Without egress, nothing is refused.
        #expect(rules(policy: false).decide(try query("anything.example")) == .forward)
    }

    @Test func otherOpcodesAndClassesAreNotForwarded() throws {
        var bytes = DNSWire.query("a.example")
        bytes[2] |= 0x10 // opcode 2 (STATUS)
        #expect(rules(policy: false).decide(try DNSMessage.parse(bytes).get()) == .notImplemented)
        let chaos = try DNSMessage.parse(DNSWire.query("version.bind", type: 16, recordClass: 3)).get()
        guard case .refuse = rules(policy: false).decide(chaos) else { Issue.record("CHAOS forwarded"); return }
    }

    @Test func theNameTableKeepsAnswersForTheirTTLWithinBounds() throws {
        let clock = NIOLockedValueBox<UInt64>(1000)
        let table = NameTable(capacity: 3, now: { clock.withLockedValue { $0 } })
        let query = DNSWire.query("www.example")
        let answer = try DNSMessage.parse(DNSWire.response(to: query, records: [DNSWire.a("198.18.0.1", ttl: 0), DNSWire.a("198.18.0.2", ttl: 100_000)])).get()
        table.record(answer: answer)
        #expect(table.name(for: .v4(IPv4Address("198.18.0.1")!)) == "www.example")
        clock.withLockedValue { $0 += UInt64(NameTable.minimumTTL) }
        #expect(table.name(for: .v4(IPv4Address("198.18.0.1")!)) == nil) // a TTL of 0 lasts the minimum
        #expect(table.name(for: .v4(IPv4Address("198.18.0.2")!)) == "www.example")
        clock.withLockedValue { $0 += UInt64(NameTable.maximumTTL) }
        #expect(table.name(for: .v4(IPv4Address("198.18.0.2")!)) == nil) // a huge TTL lasts the maximum
        for index in 0..<10 { table.record(name: "n\(index).example", addresses: [(.v4(IPv4Address("198.18.1.\(index)")!), ttl: UInt32(60 + index))]) }
        #expect(table.count <= 3)
        #expect(table.name(for: .v4(IPv4Address("198.18.1.9")!)) == "n9.example")
    }
}
