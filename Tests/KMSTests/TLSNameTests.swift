import Addressing
import Foundation
import Glibc
@testable import KMS
import Testing
import TestSupport

/// The name check on KMS's certificate, against `openssl s_server` (OpenSSL's own server, not
/// ours) with certificates the openssl tool makes: the name must be in a subjectAltName DNS
/// entry; a certificate that carries it only as its subject's CN is refused, as a public CA
/// would never issue it and RFC 6125 no longer reads the CN.
@Suite(.serialized) struct TLSNameTests {
    static let name = "kms.us-east-1.amazonaws.com"
    let directory: TemporaryDirectory

    init() throws { directory = try TemporaryDirectory() }

    private func openssl(_ arguments: [String]) throws {
        let result = try ProcessRunner.run("/usr/bin/openssl", arguments)
        try #require(result.status == 0, "openssl \(arguments.joined(separator: " ")): \(result.stderr)")
    }

    /// A CA, and a server certificate it signed for `name`: with a SAN, or the CN alone.
    private func certificates(withSAN: Bool) throws -> (ca: String, key: String, cert: String) {
        let d = directory.path
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(d)/ca.key", "-subj", "/CN=test CA", "-days", "2", "-out", "\(d)/ca.crt"])
        try openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(d)/server.key", "-subj", "/CN=\(Self.name)", "-out", "\(d)/server.csr"])
        var sign = ["x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key", "-CAcreateserial", "-days", "2",
                    "-out", "\(d)/server.crt"]
        if withSAN { sign += ["-extfile", try directory.write("san.ext", "subjectAltName=DNS:\(Self.name)\n")] }
        try openssl(sign)
        return ("\(d)/ca.crt", "\(d)/server.key", "\(d)/server.crt")
    }

    /// A TLS handshake from TLSStream to an s_server with those certificates.
    private func handshake(withSAN: Bool) throws -> Result<Void, KMSFailure> {
        let (ca, key, cert) = try certificates(withSAN: withSAN)
        // A free port: a listener's, closed as the closure ends, for the server to take.
        let free = try { () throws -> UInt16 in try BlockingSocket.listen().1 }()
        let server = try SpawnedProcess("/usr/bin/openssl", ["s_server", "-quiet", "-accept", "127.0.0.1:\(free)", "-cert", cert, "-key", key])
        defer { kill(server.pid, SIGKILL); _ = server.wait(timeout: .seconds(5)) }
        var fd: Int32 = -1
        #expect(eventually { fd = (try? TCPConnection.open(to: IPv4Address("127.0.0.1")!, port: free, timeoutSeconds: 5)) ?? -1; return fd >= 0 })
        do {
            _ = try TLSStream(fd: fd, serverName: Self.name, caFile: ca)
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    @Test func theNameInASubjectAltNameIsAccepted() throws {
        #expect(throws: Never.self) { try handshake(withSAN: true).get() }
    }

    @Test func theNameOnlyInTheSubjectCNIsRefused() throws {
        let result = try handshake(withSAN: false)
        guard case .failure(.tls(let reason)) = result else { Issue.record("\(result)"); return }
        #expect(reason.contains("is not trusted: hostname mismatch"), "\(reason)")
    }

    /// What a failed handshake says when TLS itself has nothing to say: the peer (the parent's
    /// end of the path) closed at once, or never answered. Before, the first was "OpenSSL gave
    /// no detail" and the second "Resource temporarily unavailable".
    @Test(arguments: [("closes at once", "the connection closed during the TLS handshake with kms.us-east-1.amazonaws.com"),
                      ("never answers", "no answer to the TLS handshake with kms.us-east-1.amazonaws.com within the timeout")])
    func aSilentOrClosingPeerIsNamedForWhatItDid(_ behaviour: String, _ expected: String) throws {
        let (listener, port) = try BlockingSocket.listen()
        let holder = Holder()
        Thread.detachNewThread {
            guard let connection = try? listener.accept() else { return }
            if behaviour == "never answers" { holder.keep(connection) } // held open, silent
        }
        let fd = try TCPConnection.open(to: IPv4Address("127.0.0.1")!, port: port, timeoutSeconds: 1)
        #expect { _ = try TLSStream(fd: fd, serverName: Self.name, caFile: "/etc/ssl/certs/ca-certificates.crt") } throws: { error in
            "\(error)".contains(expected) || { Issue.record("\(error)"); return false }()
        }
        _ = holder
    }
}

private final class Holder: @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [BlockingSocket] = []
    func keep(_ socket: BlockingSocket) { lock.withLock { kept.append(socket) } }
}
