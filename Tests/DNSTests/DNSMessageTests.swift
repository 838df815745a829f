import Addressing
@testable import DNS
import Testing

@Suite struct DNSMessageTests {
    @Test func aQueryParsesToItsQuestionInLowerCase() throws {
        let message = try DNSMessage.parse(DNSWire.query(id: 7, "Api.Example.COM", type: 28)).get()
        #expect(message.id == 7 && !message.isResponse && message.recursionDesired && message.opcode == 0)
        #expect(message.question == DNSQuestion(name: "api.example.com", type: 28, recordClass: 1))
        #expect(message.acceptedUDPSize() == 512)
        #expect(try DNSMessage.parse(DNSWire.query("a.example", ednsSize: 1232)).get().acceptedUDPSize() == 1232)
        #expect(try DNSMessage.parse(DNSWire.query("a.example", ednsSize: 65000)).get().acceptedUDPSize() == 4096)
        #expect(try DNSMessage.parse(DNSWire.query("a.example", ednsSize: 100)).get().acceptedUDPSize() == 512)
    }

    @Test func brokenMessagesAreErrorsNotCrashes() {
        let query = DNSWire.query("a.example")
        #expect(DNSMessage.parse([]) == .failure(.tooShort(0)))
        #expect(DNSMessage.parse(Array(query.prefix(11))) == .failure(.tooShort(11)))
        for cut in 12..<query.count {
            if case .success = DNSMessage.parse(Array(query.prefix(cut))) { Issue.record("a message cut at \(cut) parsed") }
        }
        var twoQuestions = query
        twoQuestions[5] = 2
        #expect(DNSMessage.parse(twoQuestions) == .failure(.questionCount(2)))
        // A pointer to itself, and one pointing forwards: both could loop.
        let selfPointer = Array(query[0..<12]) + [0xC0, 12, 0, 1, 0, 1]
        #expect(DNSMessage.parse(selfPointer) == .failure(.badName(offset: 12)))
        let forward = Array(query[0..<12]) + [0xC0, 14, 0, 0, 1, 0, 1]
        #expect(DNSMessage.parse(forward) == .failure(.badName(offset: 12)))
        let reservedLabel = Array(query[0..<12]) + [0x40, 0, 0, 1, 0, 1]
        #expect(DNSMessage.parse(reservedLabel) == .failure(.badName(offset: 12)))
        // 128 one-byte labels: over 255 bytes of name.
        let long = Array(query[0..<12]) + Array(repeating: [1, 97], count: 128).flatMap { $0 } + [0, 0, 1, 0, 1]
        #expect(DNSMessage.parse(long) == .failure(.badName(offset: 12 + 127 * 2)))
    }

    /// What both halves judge: a question written plainly. A pointer (the only thing it could
    /// point to in a query is the header, whose id is rewritten on the way out) and a "." inside
    /// a label (one name to the policy, another to a resolver) are format errors.
    @Test func aQueryQuestionMustBePlain() throws {
        let plain = DNSWire.query(id: 0x1234, "api.example.test")
        #expect(try DNSMessage.parseQuery(plain).get().question.name == "api.example.test")
        // "s3cr3t.attacker.example" then a pointer to the header's first byte (id 0x017A: a one-byte label "z").
        var pointer: [UInt8] = [0x01, 0x7A, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        pointer += Array(DNSWire.name("s3cr3t.attacker.example").dropLast()) + [0xC0, 0x00, 0, 1, 0, 1]
        #expect(try DNSMessage.parse(pointer).get().question.name == "s3cr3t.attacker.example.z", "what the stub used to judge")
        #expect(DNSMessage.parseQuery(pointer) == .failure(.unplainQuestion(offset: 12 + 7 + 9 + 8)))
        let dotted = Array(plain[0..<12]) + [11] + Array("attacker.ex".utf8) + [4] + Array("test".utf8) + [0, 0, 1, 0, 1]
        #expect(DNSMessage.parseQuery(dotted) == .failure(.unplainQuestion(offset: 12)))
    }

    /// What leaves for the resolvers is written anew: the question, the OPT record's size and DO
    /// bit, nothing else the app put in the message.
    @Test func aForwardedQueryIsWrittenAnew() throws {
        // RD and CD set, an opcode-0 query; an OPT with DO and an option; an extra record smuggled in.
        var query = DNSWire.u16(0x0A0B) + DNSWire.u16(0x0110 | 0x0040) + DNSWire.u16(1) + DNSWire.u16(0) + DNSWire.u16(0) + DNSWire.u16(2)
        query += DNSWire.name("Api.Example.test") + DNSWire.u16(1) + DNSWire.u16(1)
        query += DNSWire.name("carried.out.example") + DNSWire.u16(16) + DNSWire.u16(1) + DNSWire.u32(0) + DNSWire.u16(4) + Array("data".utf8)
        query += [0] + DNSWire.u16(41) + DNSWire.u16(1232) + DNSWire.u32(0x8000) + DNSWire.u16(6) + DNSWire.u16(65001) + DNSWire.u16(2) + [0xAB, 0xCD]
        let message = try DNSMessage.parseQuery(query).get()
        let forwarded = message.forwardable(id: 0x0001)
        let expected = DNSWire.u16(0x0001) + DNSWire.u16(0x0110) + DNSWire.u16(1) + DNSWire.u16(0) + DNSWire.u16(0) + DNSWire.u16(1)
            + DNSWire.name("Api.Example.test") + DNSWire.u16(1) + DNSWire.u16(1)
            + [0] + DNSWire.u16(41) + DNSWire.u16(1232) + DNSWire.u32(0x8000) + DNSWire.u16(0)
        #expect(forwarded == expected)
        let again = try DNSMessage.parseQuery(forwarded).get()
        #expect(again.acceptedUDPSize() == 1232 && again.question == message.question)
        #expect(try DNSMessage.parseQuery(DNSWire.query(id: 9, "a.example")).get().forwardable(id: 9) == DNSWire.query(id: 9, "a.example"))
    }

    @Test func answersCarryTheQuestionAndTheCode() throws {
        let query = try DNSMessage.parse(DNSWire.query(id: 0xBEEF, "kms.example", ednsSize: 1232)).get()
        let answer = try DNSMessage.parse(query.reply(.noError, addresses: [IPv4Address("127.0.0.2")!], ttl: 300)).get()
        #expect(answer.id == 0xBEEF && answer.isResponse && answer.responseCode == 0 && answer.recursionDesired)
        #expect(answer.question == query.question)
        #expect(answer.answerRecords() == [.ipv4(name: "kms.example", IPv4Address("127.0.0.2")!, ttl: 300)])
        let refused = try DNSMessage.parse(query.reply(.refused)).get()
        #expect(refused.responseCode == 5 && refused.answerCount == 0)
        #expect(DNSMessage.formatError(id: 9) == [0, 9, 0x80, 0x81, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func aTooLargeUDPAnswerIsCutToItsQuestionWithTC() throws {
        let query = DNSWire.query("big.example")
        let records = (0..<40).map { DNSWire.a("198.18.0.\($0)") }
        let full = try DNSMessage.parse(DNSWire.response(to: query, records: records)).get()
        let cut = try DNSMessage.parse(DNSMessage.truncated(full)).get()
        #expect(cut.flags & 0x0200 != 0 && cut.answerCount == 0 && cut.question == full.question)
    }

    @Test func answerRecordsFollowCompressionAndSkipOtherTypes() throws {
        let query = DNSWire.query("www.example")
        // A CNAME www.example -> cdn.example (as labels), then an A for the CNAME's target via a pointer.
        let cnameData = DNSWire.name("cdn.example")
        var response = DNSWire.response(to: query, records: [(5, 30, cnameData)])
        let cnameTargetOffset = response.count - cnameData.count
        response[7] = 3 // three answers
        response += DNSWire.u16(0xC000 | UInt16(cnameTargetOffset)) + DNSWire.u16(1) + DNSWire.u16(1) + DNSWire.u32(20) + DNSWire.u16(4) + [198, 18, 0, 7]
        response += DNSWire.u16(0xC00C) + DNSWire.u16(16) + DNSWire.u16(1) + DNSWire.u32(20) + DNSWire.u16(3) + [2, 104, 105] // TXT
        let message = try DNSMessage.parse(response).get()
        #expect(message.answerRecords() == [.cname(name: "www.example", target: "cdn.example", ttl: 30),
                                            .ipv4(name: "cdn.example", IPv4Address("198.18.0.7")!, ttl: 20)])
        var lying = response
        lying[7] = 9 // more answers than there are
        #expect(try DNSMessage.parse(lying).get().answerRecords() == nil)
    }
}

extension DNSMessage.ParseError: CustomTestStringConvertible {
    public var testDescription: String { description }
}

extension Result where Success == DNSMessage, Failure == DNSMessage.ParseError {
    static func == (result: Self, failure: Self) -> Bool {
        switch (result, failure) {
        case (.failure(let a), .failure(let b)): return a == b
        default: return false
        }
    }
}
