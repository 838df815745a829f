import CSupport
import Glibc

/// Writes to the console (stdout/stderr), whole lines at a time, that never wait for it: each
/// goes into a bounded queue that a thread of its own writes out (CSupport's console_queue.c),
/// so an event loop that logs keeps serving when the terminal, pipe or journald behind stdout
/// stops reading. A line that finds the queue full is dropped and counted, and a notice says
/// how many once the output moves again. Any other descriptor (a file) is written at once.
public enum Console {
    public static func write(_ text: String, to fd: Int32 = STDERR_FILENO) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            _ = ei_console_write(fd, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), buffer.count)
        }
    }

    public static func error(_ text: String) { write(text + "\n", to: STDERR_FILENO) }

    /// Waits until what was written is out, at most `timeout`: before the process ends.
    @discardableResult
    public static func flush(timeout: Duration = .seconds(2)) -> Bool {
        let (seconds, attoseconds) = timeout.components
        return ei_console_flush(Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)) == 1
    }

    /// Lines dropped on `fd` (stdout or stderr) because nobody read them fast enough.
    public static func droppedLines(_ fd: Int32) -> Int { Int(ei_console_dropped(fd)) }

    /// For a shutdown line: how many lines each stream lost to a reader that did not keep up
    /// (nil: none). Said on stderr too, since stdout may be the one nobody reads.
    public static var dropReport: String? {
        let counts = [("stdout", droppedLines(STDOUT_FILENO)), ("stderr", droppedLines(STDERR_FILENO))].filter { $0.1 > 0 }
        guard !counts.isEmpty else { return nil }
        return "console: " + counts.map { "\($0.1) line\($0.1 == 1 ? "" : "s") of \($0.0)" }.joined(separator: " and ")
            + " dropped: nobody read them as fast as they were written (the traffic went on)"
    }

    /// CLOCK_MONOTONIC in nanoseconds: step durations and log timestamps use the same clock.
    public static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
