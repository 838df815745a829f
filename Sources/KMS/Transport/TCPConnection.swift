import Addressing
import Glibc
import HTTPHead

/// A blocking TCP connection to an IPv4 address inside the enclave (an alias or the egress
/// proxy), with send and receive timeouts on the socket: the boot step and the proxy's worker
/// threads wait at most that long for any one read, write or connect.
enum TCPConnection {
    static func open(to address: IPv4Address, port: UInt16, timeoutSeconds: Int) throws(KMSFailure) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .unreachable("socket: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = port.bigEndian
        target.sin_addr.s_addr = address.value.bigEndian
        let result = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            let reason = code == EINPROGRESS || code == EAGAIN ? "no answer within \(timeoutSeconds) s" : String(cString: strerror(code))
            throw .unreachable("connect to \(address):\(port): \(reason)")
        }
        return fd
    }

    /// Through the egress proxy: CONNECT, and its answer must be 200. A refusal keeps the
    /// proxy's reason: the enclave's egress proxy passes the parent half's answer on as it
    /// came, so its body says what the parent saw ("cannot reach …: Connection refused").
    static func tunnel(fd: Int32, to endpoint: HostPort, timeoutSeconds: Int) throws(KMSFailure) {
        let request: [UInt8]
        do { request = try HeadWriter.request(method: "CONNECT", target: "\(endpoint)", headers: [("Host", "\(endpoint)")]) } catch {
            throw .unsafeRequest("\(error)")
        }
        guard BlockingIO.writeAll(fd, request) else { throw .unreachable("the egress proxy: \(String(cString: strerror(errno)))") }
        var head: [UInt8] = []
        var byte: UInt8 = 0
        // Byte by byte: nothing past the proxy's head may be consumed (it is TLS's).
        while head.count < 8192 {
            let count = recv(fd, &byte, 1, 0)
            guard count == 1 else {
                let code = errno
                if count == 0 { throw .unreachable("the egress proxy closed before answering CONNECT \(endpoint)") }
                throw .unreachable("the egress proxy did not answer CONNECT \(endpoint): "
                                   + (code == EAGAIN ? "no answer within \(timeoutSeconds) s" : String(cString: strerror(code))))
            }
            head.append(byte)
            if head.count >= 4, head.suffix(4).elementsEqual([13, 10, 13, 10]) { break }
        }
        let statusLine = String(decoding: head.prefix { $0 != 13 }, as: UTF8.self)
        guard statusLine.split(separator: " ").dropFirst().first == "200" else {
            let said = refusalBody(fd: fd, head: head)
            throw .unreachable("the egress proxy refused CONNECT \(endpoint): \(statusLine.prefix(200))" + (said.isEmpty ? "" : ": \(said)"))
        }
    }

    /// The text of a refusal's body, up to its Content-Length (at most 1 KiB, printable only).
    private static func refusalBody(fd: Int32, head: [UInt8]) -> String {
        guard case .success(let parsed) = ResponseHead.parse(head[...]), let length = parsed.value(of: "Content-Length").flatMap(Int.init),
              length > 0 else { return "" }
        var body = [UInt8](repeating: 0, count: min(length, 1024))
        var have = 0
        while have < body.count {
            let count = body[have...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            have += count
        }
        // Printable ASCII only: the text ends up on the console.
        let text = String(decoding: body[..<have].map { $0 >= 0x20 && $0 < 0x7f ? $0 : 0x20 }, as: UTF8.self)
        return String(text.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " "))
    }
}
