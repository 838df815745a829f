import Addressing
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import TestSupport
@testable import Streams

/// Both ends of a stream in one process, over the Unix-socket emulation of vsock.
@Suite struct StreamConnectionTests {
    final class CollectingSink: StreamSink {
        let records = NIOLockedValueBox<[ReceivedRecord]>([])
        let disconnects = NIOLockedValueBox(0)
        func received(_ record: ReceivedRecord) { records.withLockedValue { $0.append(record) } }
        func disconnected(kind: StreamKind, boot: String?) { disconnects.withLockedValue { $0 += 1 } }
        var lines: [String] { records.withLockedValue { $0.compactMap { $0.string("line") } } }
    }

    let scratch: TemporaryDirectory
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let port = UInt32.random(in: 10_000...60_000)

    init() throws {
        scratch = try TemporaryDirectory()
    }

    private var parentSide: VsockEmulation { VsockEmulation(directory: scratch.path, localCID: 3) }
    private var enclaveSide: VsockEmulation { VsockEmulation(directory: scratch.path, localCID: 16) }

    private func sender(_ buffer: RecordBuffer, boot: String = "b00t") -> StreamSender {
        StreamSender(kind: .logs, target: .vsock(cid: 3, port: port), buffer: buffer, bootID: boot, emulation: enclaveSide,
                     eventLoop: group.next(), logger: Logger(label: "test"))
    }

    private func receiver(_ sink: CollectingSink) throws -> StreamReceiver {
        let receiver = StreamReceiver(kind: .logs, listen: .vsock(port: port), emulation: parentSide, sink: sink, logger: Logger(label: "test"))
        try receiver.start()
        return receiver
    }

    private func waitUntil(_ what: String, timeout: Double = 15, _ condition: () -> Bool) {
        let end = Date().addingTimeInterval(timeout)
        while !condition() && Date() < end { usleep(10_000) }
        #expect(condition(), "\(what) within \(timeout) s")
    }

    @Test func everyRecordArrivesOnceInOrderAndIsFreedByTheAcknowledgement() throws {
        let sink = CollectingSink()
        let listeners = try receiver(sink)
        defer { listeners.stop() }
        let buffer = RecordBuffer(budget: 64 << 20)
        let stream = sender(buffer)
        stream.start()
        let expected = (1...20_000).map { "line \($0) " + String(repeating: "x", count: $0 % 300) }
        for line in expected { buffer.append(.line(.stdout, ByteBuffer(string: line))) }
        waitUntil("all records acknowledged") { buffer.isDrained }
        #expect(sink.lines == expected)
        #expect(sink.records.withLockedValue { $0.map(\.seq) } == (1...20_000).map(UInt64.init))
        try stream.stop().wait()
    }

    @Test func aParentThatListensLateGetsTheBufferedHistory() throws {
        let buffer = RecordBuffer(budget: 1 << 20)
        let stream = sender(buffer)
        stream.start()
        for index in 1...100 { buffer.append(.line(.stderr, ByteBuffer(string: "early \(index)"))) }
        usleep(300_000) // a few failed connects with backoff
        let sink = CollectingSink()
        let listeners = try receiver(sink)
        defer { listeners.stop() }
        waitUntil("the history arrives") { sink.lines.count == 100 }
        #expect(sink.lines == (1...100).map { "early \($0)" })
        try stream.stop().wait()
    }

    @Test func aParentThatRestartsGetsWhatItMissedAndNothingTwice() throws {
        let sink = CollectingSink()
        var listeners = try receiver(sink)
        let buffer = RecordBuffer(budget: 1 << 20)
        let stream = sender(buffer)
        stream.start()
        for index in 1...50 { buffer.append(.line(.stdout, ByteBuffer(string: "before \(index)"))) }
        waitUntil("the first half is acknowledged") { buffer.isDrained }
        listeners.stop()
        waitUntil("the sender saw the parent go") { sink.disconnects.withLockedValue { $0 } == 1 }
        for index in 1...50 { buffer.append(.line(.stdout, ByteBuffer(string: "while away \(index)"))) }
        listeners = try receiver(sink) // the same parent process: it remembers boot b00t's seqs
        defer { listeners.stop() }
        waitUntil("the rest arrives") { sink.lines.count >= 100 }
        #expect(sink.lines == (1...50).map { "before \($0)" } + (1...50).map { "while away \($0)" })
        try stream.stop().wait()
    }

    @Test func aNewBootStartsItsSeqsAfreshAtTheSameParent() throws {
        let sink = CollectingSink()
        let listeners = try receiver(sink)
        defer { listeners.stop() }
        for boot in ["first", "second"] {
            let buffer = RecordBuffer(budget: 1 << 20)
            let stream = sender(buffer, boot: boot)
            stream.start()
            for index in 1...3 { buffer.append(.line(.stdout, ByteBuffer(string: "\(boot) \(index)"))) }
            waitUntil("\(boot) acknowledged") { buffer.isDrained }
            try stream.stop().wait()
        }
        #expect(sink.lines == ["first 1", "first 2", "first 3", "second 1", "second 2", "second 3"])
    }
}
