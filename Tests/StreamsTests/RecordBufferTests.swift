import NIOConcurrencyHelpers
import NIOCore
import Testing
@testable import Streams

@Suite struct RecordBufferTests {
    private func line(_ text: String) -> StreamRecord.Payload { .line(.stdout, ByteBuffer(string: text)) }

    private func text(_ record: StreamRecord) -> String? {
        guard case .line(_, let bytes) = record.payload else { return nil }
        return String(buffer: bytes)
    }

    @Test func recordsAreNumberedFromOneAndTakenInOrderAfterASeq() {
        let buffer = RecordBuffer(budget: 1 << 20)
        for index in 1...10 { buffer.append(line("line \(index)")) }
        #expect(buffer.take(after: 0, maxBytes: 1 << 20).map(\.seq) == Array(1...10))
        #expect(buffer.take(after: 7, maxBytes: 1 << 20).compactMap(text) == ["line 8", "line 9", "line 10"])
        #expect(buffer.take(after: 10, maxBytes: 1 << 20).isEmpty)
        // At least one record, however small maxBytes is.
        #expect(buffer.take(after: 3, maxBytes: 1).map(\.seq) == [4])
    }

    @Test func anAcknowledgementFreesWhatTheParentHas() {
        let buffer = RecordBuffer(budget: 1 << 20)
        for index in 1...10 { buffer.append(line("line \(index)")) }
        buffer.acknowledge(upTo: 6)
        #expect(buffer.state.records == 4)
        #expect(buffer.take(after: 0, maxBytes: 1 << 20).map(\.seq) == [7, 8, 9, 10])
        buffer.acknowledge(upTo: 3) // late or repeated acks change nothing
        #expect(buffer.lastAcknowledged == 6)
        buffer.acknowledge(upTo: 99) // beyond what exists: everything
        #expect(buffer.isDrained)
        buffer.append(line("next"))
        #expect(buffer.take(after: 0, maxBytes: 100).map(\.seq) == [11])
    }

    @Test func overflowDropsTheOldestAndOneNoticeAtTheFrontCountsThem() throws {
        let budget = 4096
        let buffer = RecordBuffer(budget: budget)
        let payload = String(repeating: "x", count: 100)
        for _ in 1...1000 { buffer.append(line(payload)) }
        let state = buffer.state
        #expect(state.bytes <= budget + 200, "the buffer holds \(state.bytes) bytes for a budget of \(budget)")
        let records = buffer.take(after: 0, maxBytes: 1 << 20)
        let notice = try #require(records.first)
        guard case .dropped(let count, let firstSeq) = notice.payload else {
            Issue.record("the first record is not the drop notice: \(notice)")
            return
        }
        // Everything not kept was counted, and the survivors are the newest, without gaps.
        let kept = records.dropFirst().map(\.seq)
        #expect(firstSeq == 1)
        #expect(count + kept.count == 1000)
        #expect(notice.seq == kept.first! - 1)
        #expect(kept == Array(kept.first!...1000))
        #expect(state.dropped == count)
    }

    @Test func successiveOverflowsMergeIntoOneNotice() throws {
        let buffer = RecordBuffer(budget: 4096)
        for round in 0..<5 {
            for index in 0..<200 { buffer.append(line("round \(round) line \(index) " + String(repeating: "y", count: 40))) }
        }
        let records = buffer.take(after: 0, maxBytes: 1 << 20)
        let notices = records.filter { if case .dropped = $0.payload { return true } else { return false } }
        #expect(notices.count == 1)
        if case .dropped(let count, _)? = notices.first?.payload { #expect(count == 1000 - (records.count - 1)) }
    }

    @Test func theWakeUpFiresOnceUntilTheNextTake() {
        let buffer = RecordBuffer(budget: 1 << 20)
        let calls = Counter()
        buffer.onAppend { calls.increment() }
        buffer.append(line("a"))
        buffer.append(line("b"))
        #expect(calls.value == 1)
        _ = buffer.take(after: 0, maxBytes: 10)
        buffer.append(line("c"))
        #expect(calls.value == 2)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NIOLockedValueBox(0)
    func increment() { lock.withLockedValue { $0 += 1 } }
    var value: Int { lock.withLockedValue { $0 } }
}
