import Addressing
import NIOCore
import Testing
@testable import UDPEgress

/// The enclave's flows: found again by the app's socket and destination, answered by number,
/// closed when idle, and past the bound the one idle longest makes room.
@Suite struct FlowTableTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    private func key(_ appPort: UInt16, _ destination: String = "198.18.0.53", _ port: UInt16 = 53) -> FlowTable.Key {
        FlowTable.Key(app: UDPEndpoint(IPv4Address("192.0.0.8")!, appPort), destination: UDPEndpoint(IPv4Address(destination)!, port))
    }

    @Test func aFlowIsItsSocketAndDestination() {
        var table = FlowTable(capacity: 8, idle: .seconds(60))
        let (first, evicted) = table.open(key(1000), name: "dns.example.test", now: start)
        #expect(evicted == nil && first.id != 0)
        #expect(table.active(key(1000), now: start)?.id == first.id)
        // Another destination port, or another app port, is another flow.
        #expect(table.active(key(1000, "198.18.0.53", 54), now: start) == nil)
        #expect(table.active(key(1001), now: start) == nil)
        #expect(table.answered(first.id, now: start)?.key == key(1000))
        #expect(table.answered(first.id + 1, now: start) == nil)
    }

    @Test func idleFlowsExpireAndActiveOnesStay() {
        var table = FlowTable(capacity: 8, idle: .seconds(60))
        let quiet = table.open(key(1), name: "", now: start).flow
        let busy = table.open(key(2), name: "", now: start).flow
        _ = table.answered(busy.id, now: start + .seconds(30))
        #expect(table.expire(now: start + .seconds(59)).isEmpty)
        #expect(table.expire(now: start + .seconds(60)).map(\.id) == [quiet.id])
        #expect(table.active(key(1), now: start + .seconds(61)) == nil)
        #expect(table.active(key(2), now: start + .seconds(61))?.id == busy.id)
    }

    @Test func pastTheBoundTheFlowIdleLongestGivesWay() {
        var table = FlowTable(capacity: 3, idle: .seconds(60))
        let a = table.open(key(1), name: "", now: start).flow
        let b = table.open(key(2), name: "", now: start + .seconds(1)).flow
        _ = table.open(key(3), name: "", now: start + .seconds(2))
        _ = table.active(key(1), now: start + .seconds(3)) // a is now the most recent
        let (d, evicted) = table.open(key(4), name: "", now: start + .seconds(4))
        #expect(evicted?.id == b.id)
        #expect(table.count == 3)
        #expect(table.active(key(2), now: start + .seconds(5)) == nil)
        #expect(Set([a.id, d.id]).count == 2, "a number is not reused while its flow is open")
    }

    @Test func removeAllForgetsEveryFlow() {
        var table = FlowTable(capacity: 4, idle: .seconds(60))
        _ = table.open(key(1), name: "", now: start)
        _ = table.open(key(2), name: "", now: start)
        #expect(table.removeAll() == 2)
        #expect(table.count == 0 && table.active(key(1), now: start) == nil)
    }
}
