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

    /// An enclave whose stream protocol is another version is refused, saying both versions
    /// and the fix; nothing it sends is taken. (A stand-in client: the other version does not
    /// exist yet.)
    @Test func anEnclaveSpeakingAnotherStreamProtocolIsRefusedSayingBoth() throws {
        let sink = CollectingSink()
        let capture = LogCapture()
        let receiver = StreamReceiver(kind: .logs, listen: .vsock(port: port), emulation: parentSide, sink: sink, logger: capture.logger)
        try receiver.start()
        defer { receiver.stop() }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = parentSide.listenPath(port: port)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(connected == 0)
        let lines = #"{"hello":2,"stream":"logs","boot":"b","release":"9.9.9"}"# + "\n" + #"{"seq":1,"t":0.1,"stream":"stdout","line":"x"}"# + "\n"
        _ = lines.withCString { send(fd, $0, strlen($0), 0) }
        waitUntil("the refusal") { !capture.messages(at: .warning).isEmpty }
        let said = capture.messages(at: .warning).joined(separator: "\n")
        #expect(said.contains("the enclave speaks stream protocol 2 (enclave-init 9.9.9), this parent half 1"), "\(said)")
        #expect(said.contains("run the same enclave-init release on both halves"), "\(said)")
        #expect(sink.records.withLockedValue { $0.isEmpty })
    }

    @Test func theHelloCarriesTheReleaseAndTheProtocolVersion() throws {
        let hello = StreamProtocol.hello(kind: .status, boot: "b00t", release: "1.2.3")
        #expect(try StreamProtocol.decode(Array(hello.dropLast().utf8)) == .hello(kind: "status", boot: "b00t", version: 1, release: "1.2.3"))
        // An enclave from before the release field: its hello still reads.
        #expect(try StreamProtocol.decode(Array(#"{"hello":1,"stream":"logs","boot":"x"}"#.utf8)) == .hello(kind: "logs", boot: "x", version: 1, release: nil))
    }
}
