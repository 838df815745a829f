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
        #expect(table.names(for: .v4(IPv4Address("198.18.0.1")!)) == ["www.example"])
        clock.withLockedValue { $0 += UInt64(NameTable.minimumTTL) }
        #expect(table.names(for: .v4(IPv4Address("198.18.0.1")!)) == []) // a TTL of 0 lasts the minimum
        #expect(table.names(for: .v4(IPv4Address("198.18.0.2")!)) == ["www.example"])
        clock.withLockedValue { $0 += UInt64(NameTable.maximumTTL) }
        #expect(table.names(for: .v4(IPv4Address("198.18.0.2")!)) == []) // a huge TTL lasts the maximum
        for index in 0..<10 { table.record(name: "n\(index).example", addresses: [(.v4(IPv4Address("198.18.1.\(index)")!), ttl: UInt32(60 + index))]) }
        #expect(table.count <= 3)
        #expect(table.names(for: .v4(IPv4Address("198.18.1.9")!)) == ["n9.example"])
    }

    /// Many names on one address: each is kept for its own TTL, the most recent first, a name
    /// given again moves to the front with its new TTL, and one address holds a bounded number.
    @Test func anAddressKeepsEveryNameItWasRecentlyGiven() throws {
        let clock = NIOLockedValueBox<UInt64>(1000)
        let table = NameTable(now: { clock.withLockedValue { $0 } })
        let shared = IPAddress.v4(IPv4Address("198.18.0.10")!)
        table.record(name: "api.example", addresses: [(shared, ttl: 60)])
        table.record(name: "cdn.example", addresses: [(shared, ttl: 600)])
        #expect(table.names(for: shared) == ["cdn.example", "api.example"])
        table.record(name: "api.example", addresses: [(shared, ttl: 60)])
        #expect(table.names(for: shared) == ["api.example", "cdn.example"])
        #expect(table.count == 2)
        clock.withLockedValue { $0 += 61 }
        #expect(table.names(for: shared) == ["cdn.example"]) // api.example's answer expired, cdn's did not
        for index in 0..<(NameTable.namesPerAddress + 5) {
            table.record(name: "n\(index).example", addresses: [(shared, ttl: UInt32(100 + index))])
        }
        let names = table.names(for: shared)
        #expect(names.count == NameTable.namesPerAddress)
        #expect(names.first == "n\(NameTable.namesPerAddress + 4).example")
        #expect(names.contains("cdn.example")) // the longest TTL outlives the flood
    }

    /// A flood of distinct names stays within the table's capacity, dropping what expires first.
    @Test func theTableStaysWithinItsCapacity() {
        let table = NameTable(capacity: 100, now: { 1000 })
        for index in 0..<5_000 {
            table.record(name: "n\(index).example", addresses: [(.v4(IPv4Address(UInt32(0xC612_0000) + UInt32(index % 300))), ttl: UInt32(60 + index / 2))])
        }
        #expect((90...100).contains(table.count), "\(table.count)")
        #expect(table.names(for: .v4(IPv4Address(UInt32(0xC612_0000) + UInt32(4_999 % 300)))).first == "n4999.example")
    }
}
