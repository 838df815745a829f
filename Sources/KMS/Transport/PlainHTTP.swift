import Addressing
import Glibc
import HTTPHead

/// One plain HTTP/1.1 request to an IPv4 address and its whole answer (`Connection: close`):
/// the parent half's IMDS client. Blocking, every step bounded by the timeout.
public enum PlainHTTP {
    public static func exchange(address: IPv4Address, port: UInt16, method: String, path: String,
                                headers: [(String, String)], timeoutSeconds: Int = 5) throws(KMSFailure) -> HTTPReply {
        let fields = [("Host", "\(address)")] + headers + [("Content-Length", "0"), ("Connection", "close")]
        let head: [UInt8]
        do { head = try HeadWriter.request(method: method, target: path, headers: fields.map { (name: $0.0, value: $0.1) }) } catch {
            throw .unsafeRequest("\(error)")
        }
        let fd = try TCPConnection.open(to: address, port: port, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        guard BlockingIO.writeAll(fd, head) else { throw .unreachable("sending to \(address):\(port): \(String(cString: strerror(errno)))") }
        switch BlockingIO.readToEnd(fd, limit: HTTPReply.maximumBytes) {
        case .success(let received):
            // `Connection: close`: the whole answer is there once the input ends.
            return try HTTPReply.parse(received, ended: true)!
        case .failure(.tooLarge): throw .protocolError("the answer is over \(HTTPReply.maximumBytes) bytes")
        case .failure(.failed(let code)):
            throw .unreachable("reading from \(address):\(port): \(code == EAGAIN ? "no answer within \(timeoutSeconds) s" : String(cString: strerror(code)))")
        }
    }
}
