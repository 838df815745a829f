import Glibc
import NIOCore
import Testing
@testable import Streams

@Suite struct OutputCaptureTests {
    private func records(after writes: [String], budget: Int = 1 << 20) throws -> [StreamRecord] {
        let buffer = RecordBuffer(budget: budget)
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(devNull) }
        let capture = try OutputCapture(buffer: buffer, console: (devNull, devNull))
        for text in writes {
            let written = text.utf8.withContiguousStorageIfAvailable { write(capture.stdoutWriter, $0.baseAddress, $0.count) }
            #expect(written == text.utf8.count)
        }
        #expect(capture.finish(timeout: .seconds(10)))
        return buffer.take(after: 0, maxBytes: .max)
    }

    @Test func everyLineOfEveryWriteBecomesARecordInOrder() throws {
        let writes = (0..<500).map { "line \($0)\n" } + ["two\nat once\n", "no newline at the end"]
        let lines = try records(after: writes).compactMap { record -> String? in
            guard case .line(.stdout, let bytes) = record.payload else { return nil }
            return String(buffer: bytes)
        }
        #expect(lines == (0..<500).map { "line \($0)" } + ["two", "at once", "no newline at the end"])
    }

    /// An app that writes a short line now and then: each read once pinned a 64 KiB chunk, so
    /// the 1 MiB budget of ~18,000 short records held on to about a gigabyte of address space
    /// (51 MB resident for 30,000 `echo`s). A record must keep only storage of its own size.
    @Test func shortWritesDoNotPinWholeReadBuffers() throws {
        let writes = (0..<2000).map { "\($0)\n" }
        let held = try records(after: writes).compactMap { record -> Int? in
            guard case .line(_, let bytes) = record.payload else { return nil }
            return bytes.storageCapacity
        }
        #expect(held.count == 2000)
        // Reads may gather several writes, but never more than everything written (~9 KB); the
        // allocator rounds a capacity up to a power of two.
        let everything = writes.reduce(0) { $0 + $1.utf8.count }
        #expect(held.allSatisfy { $0 <= 2 * everything && $0 < OutputCapture.readSize }, "largest storage held by a record: \(held.max() ?? 0) bytes")
    }
}
