import COpenSSL
import Glibc

/// A TLS 1.2+ client on a connected socket, OpenSSL underneath. The peer's certificate must
/// chain to `caFile` and name `serverName` in a subjectAltName DNS entry (never the subject's
/// CN, which RFC 6125 left behind and a CA may fill with anything): a parent that answers in
/// KMS's place fails here.
final class TLSStream {
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private let fd: Int32
    private let peer: OutboundHTTPS.Peer

    /// `peer` names who answers and which setting holds its CA bundle, for the errors.
    init(fd: Int32, serverName: String, caFile: String, peer: OutboundHTTPS.Peer = .kms) throws(KMSFailure) {
        self.peer = peer
        self.fd = fd
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            close(fd)
            throw .tls(OpenSSL.drainErrors())
        }
        _ = ei_ssl_ctx_set_min_proto_version(context, TLS1_2_VERSION)
        // A peer that closes without close_notify after a complete answer is not an attack on
        // a response whose length is framed by HTTP.
        _ = SSL_CTX_set_options(context, UInt64(1) << 7 /* SSL_OP_IGNORE_UNEXPECTED_EOF, a macro Swift cannot import */)
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        guard SSL_CTX_load_verify_file(context, caFile) == 1 else {
            let detail = OpenSSL.drainErrors()
            SSL_CTX_free(context)
            close(fd)
            throw .tls("cannot read the CA bundle \(caFile) (\(peer.caSetting)): \(detail)")
        }
        guard let ssl = SSL_new(context) else {
            SSL_CTX_free(context)
            close(fd)
            throw .tls(OpenSSL.drainErrors())
        }
        self.context = context
        self.ssl = ssl
        SSL_set_fd(ssl, fd)
        _ = ei_ssl_set_tlsext_host_name(ssl, serverName)
        // Without the name set, OpenSSL would check the chain and no name at all: a failure
        // here is an error, never a silent pass.
        SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NEVER_CHECK_SUBJECT))
        guard SSL_set1_host(ssl, serverName) == 1 else {
            // self is whole: deinit frees both and closes the socket.
            let detail = OpenSSL.drainErrors()
            throw .tls("cannot set \(serverName) as the name the certificate must carry: \(detail)")
        }
        guard SSL_connect(ssl) == 1 else {
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK {
                _ = OpenSSL.drainErrors()
                throw .tls("the certificate for \(serverName) is not trusted: \(String(cString: X509_verify_cert_error_string(verify))) (checked against \(caFile))")
            }
            let code = errno
            let detail = OpenSSL.drainErrors()
            guard detail == "OpenSSL gave no detail" else { throw .tls("handshake with \(serverName): \(detail)") }
            // No TLS error: the socket's, named for what it means here, not "Resource
            // temporarily unavailable" for a timeout or nothing at all for a closed connection.
            switch code {
            case EAGAIN, EWOULDBLOCK:
                throw .unreachable("no answer to the TLS handshake with \(serverName) within the timeout (the path to \(peer.name) is up to the parent half: see its log)")
            case 0:
                throw .unreachable("the connection closed during the TLS handshake with \(serverName): the parent half's end of the path "
                                   + "closed it (it could not reach \(peer.name), or refused it: see its log)")
            default:
                throw .unreachable("the TLS handshake with \(serverName): \(String(cString: strerror(code)))")
            }
        }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
        close(fd)
    }

    func write(_ bytes: [UInt8]) throws(KMSFailure) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            guard written > 0 else { throw .unreachable("sending to \(peer.name): \(failure(written))") }
            offset += Int(written)
        }
    }

    /// Up to `limit` bytes; empty at the end of the stream.
    func read(limit: Int = 16384) throws(KMSFailure) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: limit)
        let count = SSL_read(ssl, &buffer, Int32(limit))
        if count > 0 { return Array(buffer[0..<Int(count)]) }
        let code = SSL_get_error(ssl, count)
        if code == SSL_ERROR_ZERO_RETURN { return [] }
        throw .unreachable("reading \(peer.name)'s answer: \(failure(count))")
    }

    private func failure(_ result: Int32) -> String {
        let saved = errno
        let code = SSL_get_error(ssl, result)
        if code == SSL_ERROR_SYSCALL, saved == EAGAIN || saved == EWOULDBLOCK { return "timed out" }
        if code == SSL_ERROR_SYSCALL { return saved == 0 ? "the connection closed" : String(cString: strerror(saved)) }
        return OpenSSL.drainErrors()
    }
}
