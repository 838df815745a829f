import BootConfig
import DocumentReading
import NIOCore
import Testing
@testable import Streams

@Suite struct LineSplitterTests {
    private func split(_ chunks: [String], maximum: Int = 16 * 1024) -> [String] {
        var splitter = LineSplitter(maximum: maximum)
        var lines: [ByteBuffer] = []
        for chunk in chunks { splitter.feed(ByteBuffer(string: chunk), into: &lines) }
        splitter.finish(into: &lines)
        return lines.map { String(buffer: $0) }
    }

    @Test func linesAcrossChunksComeOutWholeAndInOrder() {
        #expect(split(["one\ntw", "o\nthr", "ee", "\n"]) == ["one", "two", "three"])
        #expect(split(["\n\n", "a\n"]) == ["", "", "a"])
        #expect(split(["no newline at the end"]) == ["no newline at the end"])
        #expect(split(["cr\r\n"]) == ["cr\r"]) // bytes are kept as written
    }

    @Test func aLongLineBecomesPiecesOfTheMaximum() {
        let long = String(repeating: "a", count: 10) + String(repeating: "b", count: 10) + "cc"
        #expect(split([long + "\nafter\n"], maximum: 10) == [String(repeating: "a", count: 10), String(repeating: "b", count: 10), "cc", "after"])
        // Also when it arrives a byte at a time, without a newline.
        #expect(split(Array(repeating: "z", count: 25), maximum: 10) == ["zzzzzzzzzz", "zzzzzzzzzz", "zzzzz"])
    }

    @Test func aLineOfExactlyTheMaximumIsOneRecordHoweverItIsCut() {
        let ten = String(repeating: "x", count: 10)
        #expect(split([ten + "\nnext\n"], maximum: 10) == [ten, "next"])
        #expect(split([ten, "\nnext\n"], maximum: 10) == [ten, "next"])
        #expect(split(["xxxx", "xxxxxx", "\nnext\n"], maximum: 10) == [ten, "next"])
        #expect(split([ten + ten, "\nnext\n"], maximum: 10) == [ten, ten, "next"])
        #expect(split([ten, "\n\nnext\n"], maximum: 10) == [ten, "", "next"]) // a real empty line stays
    }

    /// Output without newlines (a progress bar, a binary dump) once made the pending line keep
    /// every byte read so far and copy all of it on each read: 100 MB took minutes.
    @Test func outputThatNeverEndsALineHoldsOnlyThePendingPiece() {
        var splitter = LineSplitter(maximum: 16 * 1024)
        var lines: [ByteBuffer] = []
        var largestPending = 0
        // Reads of 10,000 bytes: the pending piece is never empty when one is cut (the old code kept
        // its consumed front only then).
        let chunk = ByteBuffer(repeating: UInt8(ascii: "z"), count: 10_000)
        for _ in 0..<1000 {
            splitter.feed(chunk, into: &lines)
            largestPending = max(largestPending, splitter.pendingStorage)
        }
        splitter.finish(into: &lines)
        #expect(lines.reduce(0) { $0 + $1.readableBytes } == 1000 * 10_000)
        #expect(lines.dropLast().allSatisfy { $0.readableBytes == 16 * 1024 })
        #expect(largestPending <= 64 * 1024, "the pending line holds \(largestPending) bytes of storage")
    }
}

@Suite struct RecordEncodingTests {
    private func decode(_ record: StreamRecord) throws -> [String: JSONValue] {
        var out = ByteBuffer()
        record.encode(into: &out)
        let text = String(buffer: out)
        #expect(text.hasSuffix("}\n") && text.filter { $0 == "\n" }.count == 1, "one line per record: \(text)")
        guard case .record(let seq, let fields, _) = try StreamProtocol.decode(Array(text.utf8.dropLast())) else {
            Issue.record("not a record: \(text)")
            return [:]
        }
        #expect(seq == record.seq)
        return fields
    }

    @Test func aLineRecordIsOneJSONLineWithEveryByteAccountedFor() throws {
        let tricky = "quote \" backslash \\ tab \t cr \r bell \u{7} é ✓"
        let fields = try decode(StreamRecord(seq: 7, time: 12_345_678, payload: .line(.stderr, ByteBuffer(string: tricky))))
        #expect(fields["line"] == .string(tricky))
        #expect(fields["stream"] == .string("stderr"))
        if case .number(let number)? = fields["t"] { #expect(number.text == "12.345") } else { Issue.record("no t") }
    }

    @Test func invalidUTF8BecomesTheReplacementCharacter() throws {
        var bytes = ByteBuffer(string: "ok ")
        bytes.writeBytes([0xFF, 0xC3])
        let fields = try decode(StreamRecord(seq: 1, time: 0, payload: .line(.stdout, bytes)))
        #expect(fields["line"] == .string("ok \u{FFFD}\u{FFFD}"))
    }

    @Test func aDropNoticeSaysHowManyAndWhichAndTheParentCountsOnlyWhatItLacks() throws {
        let fields = try decode(StreamRecord(seq: 800, time: 0, payload: .dropped(count: 300, firstSeq: 501)))
        #expect(fields["dropped"] == .number(JSONNumber(text: "300")))
        #expect(fields["first_seq"] == .number(JSONNumber(text: "501")))
        #expect(fields["line"] == .string("enclave-init: log buffer full: 300 records dropped (seq 501-800) before the parent received them"))
        // The parent had up to 700 before the connection broke: 100 are missing, not 300.
        let counted = StreamReceiver.counted(fields, seq: 800, after: 700)
        #expect(counted["dropped"] == .number(JSONNumber(text: "100")))
        #expect(counted["line"] == .string("enclave-init: log buffer full: 100 records dropped (seq 701-800) before the parent received them"))
        // It had none of them: the notice stands as sent.
        #expect(StreamReceiver.counted(fields, seq: 800, after: 500) == fields)
        #expect(StreamReceiver.counted(fields, seq: 800, after: 0) == fields)
    }

    @Test func theProtocolRefusesWhatIsNotARecord() {
        for line in ["", "[]", "{\"seq\":0}", "{\"seq\":\"1\"}", "{\"hello\":1}", "not json"] {
            #expect(throws: StreamProtocol.MalformedLine.self, "\(line)") { try StreamProtocol.decode(Array(line.utf8)) }
        }
        let ack = try? StreamProtocol.decode(Array("{\"ack\":12}".utf8))
        #expect(ack == .ack(12))
    }
}
