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

    /// The recency list against the plain rule it keeps cheap (evict the least recently
    /// active, expire everything idle), over a long random run of opens, touches and removals.
    @Test func theRecencyListAgreesWithAPlainScan() {
        var table = FlowTable(capacity: 8, idle: .seconds(10))
        var model: [FlowTable.Key: (id: UInt32, last: Int64, order: Int)] = [:]
        var generator = SystemRandomNumberGenerator()
        var clock: Int64 = 0, order = 0
        for _ in 0..<5_000 {
            clock += Int64.random(in: 0...2, using: &generator)
            order += 1
            let now = start + .seconds(clock)
            let key = self.key(UInt16.random(in: 1...20, using: &generator))
            switch Int.random(in: 0..<10, using: &generator) {
            case 0:
                let expired = Set(table.expire(now: now).map(\.key))
                let idle = Set(model.filter { clock - $0.value.last >= 10 }.keys)
                #expect(expired == idle)
                for key in idle { model[key] = nil }
            case 1:
                if let id = model[key]?.id {
                    #expect(table.remove(id)?.key == key)
                    model[key] = nil
                }
            default:
                if table.active(key, now: now) != nil {
                    model[key]!.last = clock
                    model[key]!.order = order
                } else {
                    let oldest = model.count >= 8 ? model.min { $0.value.order < $1.value.order }?.key : nil
                    let (flow, evicted) = table.open(key, name: "", now: now)
                    #expect(evicted?.key == oldest)
                    if let oldest { model[oldest] = nil }
                    model[key] = (flow.id, clock, order)
                }
            }
            #expect(table.count == model.count)
        }
    }
}
