import Addressing
import Glibc

/// The NSM emulated over a Unix stream socket, as ENCLAVE_INIT_VSOCK_DIR emulates vsock: for
/// tests and local runs on machines without /dev/nsm, never the default, and said so in the
/// console. One connection per call: the request's CBOR preceded by its length (4 bytes, big
/// endian), answered the same way. The stand-in at the other end is a test's, not an NSM:
/// what it signs proves nothing.
public enum NSMEmulation {
    public static let environmentVariable = "ENCLAVE_INIT_NSM_SOCKET"
    static let prefix = "unix:"

    public static var socketPath: String? {
        guard let value = getenv(environmentVariable).map({ String(cString: $0) }), !value.isEmpty else { return nil }
        return value
    }

    /// The same contract as ei_nsm_call: 0, or -1 with errno set.
    static func call(socket path: String, _ request: [UInt8], _ response: inout [UInt8], _ length: inout Int) -> Int32 {
        let fd = Endpoint.unix(path: path).connectBlocking(timeoutMilliseconds: 5000)
        guard fd >= 0 else { return -1 }
        defer { close(fd) }
        let count = UInt32(request.count)
        let framed = [UInt8(count >> 24), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)] + request
        guard BlockingIO.writeAll(fd, framed) else { return -1 }
        guard let header = BlockingIO.readExactly(fd, 4) else { errno = EPROTO; return -1 }
        let size = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard size <= response.count else { errno = EMSGSIZE; return -1 }
        guard let answer = BlockingIO.readExactly(fd, size) else { errno = EPROTO; return -1 }
        response.replaceSubrange(0..<size, with: answer)
        length = size
        return 0
    }
}
