import Glibc

/// Direct writes to the console (stdout/stderr), whole lines at a time, retrying short writes.
public enum Console {
    public static func write(_ text: String, to fd: Int32 = STDERR_FILENO) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 && errno == EINTR { continue }
                if written <= 0 { return } // the console is gone: nothing useful left to do
                offset += written
            }
        }
    }

    public static func error(_ text: String) { write(text + "\n", to: STDERR_FILENO) }

    /// CLOCK_MONOTONIC in nanoseconds: step durations and log timestamps use the same clock.
    public static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}
