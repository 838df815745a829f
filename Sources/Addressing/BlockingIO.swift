import Glibc

/// Whole reads and writes on a blocking descriptor, for the few callers that run outside an
/// event loop (the NSM's socket emulation, the KMS client's sockets and files, the parent's
/// credentials): EINTR retried, a socket's timeouts (SO_RCVTIMEO) ending a wait as an error.
public enum BlockingIO {
    /// Every byte, or false with errno set. A socket gets MSG_NOSIGNAL: a peer that is gone is
    /// EPIPE here, never a SIGPIPE.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            var written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == ENOTSOCK { written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// Exactly `count` bytes; nil at an early end of input (errno 0) or an error (errno set).
    public static func readExactly(_ fd: Int32, _ count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + offset, count - offset) }
            if got < 0 && errno == EINTR { continue }
            if got == 0 { errno = 0 }
            guard got > 0 else { return nil }
            offset += got
        }
        return buffer
    }

    public enum ReadFailure: Error, Equatable {
        /// More than the limit arrived before the end.
        case tooLarge(limit: Int)
        /// The read failed; EAGAIN is a receive timeout.
        case failed(errno: Int32)
    }

    /// Everything up to the end of input, at most `limit` bytes.
    public static func readToEnd(_ fd: Int32, limit: Int) -> Result<[UInt8], ReadFailure> {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return .failure(.failed(errno: errno)) }
            if count == 0 { return .success(received) }
            received += buffer[0..<count]
            if received.count > limit { return .failure(.tooLarge(limit: limit)) }
        }
    }
}
