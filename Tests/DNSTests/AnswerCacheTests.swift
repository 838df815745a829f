import Addressing
@testable import DNS
import NIOConcurrencyHelpers
import Testing

@Suite struct AnswerCacheTests {
    private func message(_ bytes: [UInt8]) throws -> DNSMessage { try DNSMessage.parse(bytes).get() }

    @Test func aRepeatedQuestionIsAnsweredWithTheClientsIdAndAgedTTLsUntilItExpires() throws {
        let clock = NIOLockedValueBox<UInt64>(100)
        let cache = AnswerCache(now: { clock.withLockedValue { $0 } })
        let query = DNSWire.query(id: 1, "api.example")
        let answer = try message(DNSWire.response(to: query, records: [DNSWire.a("198.18.0.10", ttl: 60), DNSWire.a("198.18.0.12", ttl: 90)]))
        #expect(cache.answer(try message(query)) == nil)
        cache.store(answer, for: try message(query))
        clock.withLockedValue { $0 += 25 }
        let served = try message(try #require(cache.answer(try message(DNSWire.query(id: 77, "API.example")))))
        #expect(served.id == 77)
        #expect(served.answerRecords() == [.ipv4(name: "api.example", IPv4Address("198.18.0.10")!, ttl: 35),
                                           .ipv4(name: "api.example", IPv4Address("198.18.0.12")!, ttl: 65)])
        clock.withLockedValue { $0 += 35 } // the smallest TTL is up
        #expect(cache.answer(try message(query)) == nil)
        #expect(cache.count == 0)
    }

    @Test func onlyCompletePositiveAnswersAreKeptAndForAtMostFiveMinutes() throws {
        let clock = NIOLockedValueBox<UInt64>(0)
        let cache = AnswerCache(now: { clock.withLockedValue { $0 } })
        let query = DNSWire.query("x.example")
        let q = try message(query)
        cache.store(try message(DNSWire.response(to: query, code: 2, records: [])), for: q) // SERVFAIL
        cache.store(try message(DNSWire.response(to: query, code: 3, records: [])), for: q) // NXDOMAIN
        cache.store(try message(DNSWire.response(to: query, records: [])), for: q)          // no data
        cache.store(try message(DNSWire.response(to: query, records: [DNSWire.a("198.18.0.1", ttl: 0)])), for: q)
        var truncated = DNSWire.response(to: query, records: [DNSWire.a("198.18.0.1")])
        truncated[2] |= 0x02
        cache.store(try message(truncated), for: q)
        let other = DNSWire.response(to: DNSWire.query("y.example"), records: [DNSWire.a("198.18.0.1")])
        cache.store(try message(other), for: q) // an answer to another question
        #expect(cache.count == 0)
        cache.store(try message(DNSWire.response(to: query, records: [DNSWire.a("198.18.0.1", ttl: 86_400)])), for: q)
        clock.withLockedValue { $0 += UInt64(AnswerCache.maximumTTL) }
        #expect(cache.answer(q) == nil)
    }

    @Test func queriesWithAndWithoutEDNSAreKeptApartAndTheCacheIsBounded() throws {
        let cache = AnswerCache(capacity: 5, now: { 0 })
        let plain = DNSWire.query("e.example"), edns = DNSWire.query("e.example", ednsSize: 1232)
        cache.store(try message(DNSWire.response(to: plain, records: [DNSWire.a("198.18.0.1")])), for: try message(plain))
        #expect(cache.answer(try message(edns)) == nil)
        #expect(cache.answer(try message(plain)) != nil)
        for index in 0..<20 {
            let query = DNSWire.query("n\(index).example")
            cache.store(try message(DNSWire.response(to: query, records: [DNSWire.a("198.18.0.1", ttl: UInt32(10 + index))])), for: try message(query))
        }
        #expect(cache.count <= 5)
    }
}
