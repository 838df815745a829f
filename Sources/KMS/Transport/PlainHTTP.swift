import Addressing
import Glibc

/// One plain HTTP/1.1 request to an IPv4 address and its whole answer (`Connection: close`):
/// the parent half's IMDS client. Blocking, every step bounded by the timeout.
public enum PlainHTTP {
    public static func exchange(address: IPv4Address, port: UInt16, method: String, path: String,
                                headers: [(String, String)], timeoutSeconds: Int = 5) throws(KMSFailure) -> HTTPReply {
        let fd = try TCPConnection.open(to: address, port: port, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        let head = "\(method) \(path) HTTP/1.1\r\nHost: \(address)\r\n" + headers.map { "\($0.0): \($0.1)\r\n" }.joined()
            + "Content-Length: 0\r\nConnection: close\r\n\r\n"
        guard TCPConnection.sendAll(fd, Array(head.utf8)) else { throw .unreachable("sending to \(address):\(port): \(String(cString: strerror(errno)))") }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count < 0 { throw .unreachable("reading from \(address):\(port): \(errno == EAGAIN ? "no answer within \(timeoutSeconds) s" : String(cString: strerror(errno)))") }
            received += buffer[0..<count]
            guard received.count <= HTTPReply.maximumBytes else { throw .protocolError("the answer is over \(HTTPReply.maximumBytes) bytes") }
            if let reply = try HTTPReply.parse(received, ended: count == 0) { return reply }
        }
    }
}
