import Addressing
import Glibc
import HTTPHead
import Policy

/// One HTTPS request from inside the enclave, out the way the app's traffic goes (a hosts[]
/// alias, or a CONNECT through the egress proxy), the peer's certificate checked against a CA
/// bundle for the endpoint's name: KMS's calls, and the ACME CA's for the attested ingress.
/// Blocking, each read, write and connect bounded by the timeout; `Connection: close`.
public struct OutboundHTTPS: Sendable {
    /// Who answers, for the errors: "KMS" and where its CA bundle is set.
    public struct Peer: Sendable {
        public var name: String
        public var caSetting: String
        public init(name: String, caSetting: String) {
            self.name = name
            self.caSetting = caSetting
        }
        public static let kms = Peer(name: "KMS", caSetting: "kms.ca_file")
    }

    public var route: OutboundRoute
    public var endpoint: HostPort
    public var caFile: String
    public var peer: Peer
    public var timeoutSeconds: Int

    public init(route: OutboundRoute, endpoint: HostPort, caFile: String, peer: Peer = .kms, timeoutSeconds: Int) {
        self.route = route
        self.endpoint = endpoint
        self.caFile = caFile
        self.peer = peer
        self.timeoutSeconds = timeoutSeconds
    }

    /// The Host header: the endpoint's name, with its port unless 443.
    public var hostHeader: String { endpoint.port == 443 ? endpoint.host : endpoint.description }

    /// Sends `request` (head and body) and reads the whole answer.
    public func exchange(_ request: [UInt8]) throws(KMSFailure) -> HTTPReply {
        let fd: Int32
        switch route {
        case .alias(let address, let port):
            fd = try TCPConnection.open(to: address, port: port, timeoutSeconds: timeoutSeconds)
        case .connectProxy(let port):
            fd = try TCPConnection.open(to: .loopback, port: port, timeoutSeconds: timeoutSeconds)
            do { try TCPConnection.tunnel(fd: fd, to: endpoint, timeoutSeconds: timeoutSeconds) } catch { close(fd); throw error }
        }
        let tls = try TLSStream(fd: fd, serverName: endpoint.host, caFile: caFile, peer: peer)
        try tls.write(request)
        var received: [UInt8] = []
        while true {
            let chunk = try tls.read()
            received += chunk
            guard received.count <= HTTPReply.maximumBytes else { throw .protocolError("the answer is over \(HTTPReply.maximumBytes) bytes") }
            if let reply = try HTTPReply.parse(received, ended: chunk.isEmpty) { return reply }
        }
    }

    /// `method path` with `headers` (Host, Content-Length and Connection added) and `body`.
    public func send(method: String, path: String, headers: [(name: String, value: String)], body: [UInt8]) throws(KMSFailure) -> HTTPReply {
        let all = [("Host", hostHeader)] + headers + [("Content-Length", String(body.count)), ("Connection", "close"), ("User-Agent", "enclave-init")]
        let head: [UInt8]
        do { head = try HeadWriter.request(method: method, target: path, headers: all) } catch { throw .unsafeRequest("\(error)") }
        return try exchange(head + body)
    }
}
