import Addressing
import COpenSSL
import DocumentReading
import EnclaveImage
import Glibc

/// `verify https://HOST:PORT`: one TLS connection to an attested ingress that offers only
/// ALPN `enclave-attestation/1`, a fresh document asked for on it (the same request as the
/// attestation endpoint's, with verify's own nonce), and the certificate that server presented
/// on that very connection. The certificate is not checked against any CA here: what makes it
/// the enclave's is the document, whose user_data must name its public key
/// (`Expectations.tlsPublicKeySHA256`). Blocking, each step bounded by the timeout.
enum BindingFetch {
    static let attestationProtocol = "enclave-attestation/1"

    struct Fetched {
        var document: [UInt8]
        var certificateDER: [UInt8]
        var publicKeySHA256: [UInt8]
        var protocolVersion: String
    }

    /// `https://HOST[:PORT][/PATH]`, port 443 and the endpoint's path by default.
    static func parse(_ url: String) -> EndpointFetch.Target? {
        guard url.hasPrefix("https://") else { return nil }
        let rest = url.dropFirst("https://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        var host = String(authority), port: UInt16 = 443
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let number = UInt16(authority[authority.index(after: colon)...]), number > 0 else { return nil }
            port = number
            host = String(authority[..<colon])
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return EndpointFetch.Target(host: host, port: port, path: path.isEmpty ? "/v1/attestation" : String(path))
    }

    static func fetch(_ target: EndpointFetch.Target, nonce: [UInt8], timeoutSeconds: Int = 10) throws(EndpointFetch.Failure) -> Fetched {
        let place = "\(target.host):\(target.port)"
        let request = try EndpointFetch.request(to: target, nonce: nonce)
        let fd = try EndpointFetch.connect(target, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw failure("cannot make a TLS context") }
        defer { SSL_CTX_free(context) }
        _ = ei_ssl_ctx_set_min_proto_version(context, TLS1_2_VERSION)
        // The document decides whether this certificate is the enclave's, not a CA.
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        let wire = [UInt8(attestationProtocol.utf8.count)] + Array(attestationProtocol.utf8)
        guard SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count)) == 0, let ssl = SSL_new(context) else { throw failure("cannot set up TLS") }
        defer { SSL_free(ssl) }
        SSL_set_fd(ssl, fd)
        // SNI names a host; an address literal gets none (RFC 6066).
        if IPAddress(target.host) == nil { _ = ei_ssl_set_tlsext_host_name(ssl, target.host) }
        guard SSL_connect(ssl) == 1 else {
            let code = errno
            let detail = drainErrors()
            throw EndpointFetch.Failure(reason: "TLS handshake with \(place): " + (detail.isEmpty ? (code == EAGAIN ? "no answer within \(timeoutSeconds) s" : String(cString: strerror(code))) : detail))
        }
        var name: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &name, &length)
        let selected = name.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self) }
        guard selected == attestationProtocol else {
            throw EndpointFetch.Failure(reason: "\(place) did not select ALPN \(attestationProtocol) (\(selected.map { "it chose \($0)" } ?? "it chose none")): "
                                        + "not an attested ingress of enclave-init, or one with tls.attestation false")
        }
        guard let peer = SSL_get1_peer_certificate(ssl) else { throw failure("\(place) presented no certificate") }
        defer { X509_free(peer) }
        let certificate = der(of: peer)
        let publicKey = publicKeyDER(of: peer)
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
            guard count > 0 else { throw failure("sending to \(place)") }
            sent += Int(count)
        }
        let document = try EndpointFetch.response(from: place, path: target.path, timeoutSeconds: timeoutSeconds) { buffer in
            let count = SSL_read(ssl, buffer.baseAddress, Int32(buffer.count))
            if count > 0 { return Int(count) }
            let error = SSL_get_error(ssl, count)
            if error == SSL_ERROR_ZERO_RETURN { return 0 }
            if error == SSL_ERROR_SYSCALL, errno == 0 { return 0 } // closed without close_notify
            return -1
        }
        _ = SSL_shutdown(ssl)
        return Fetched(document: document, certificateDER: certificate, publicKeySHA256: SHA256.hash(publicKey),
                       protocolVersion: String(cString: SSL_get_version(ssl)))
    }

    private static func der(of certificate: OpaquePointer) -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(certificate, &out)
        guard length > 0, let out else { return [] }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    private static func publicKeyDER(of certificate: OpaquePointer) -> [UInt8] {
        guard let key = X509_get0_pubkey(certificate) else { return [] }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(key, &out)
        guard length > 0, let out else { return [] }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    private static func failure(_ what: String) -> EndpointFetch.Failure {
        let detail = drainErrors()
        return EndpointFetch.Failure(reason: what + (detail.isEmpty ? "" : ": \(detail)"))
    }

    private static func drainErrors() -> String {
        var buffer = [CChar](repeating: 0, count: 2048)
        ei_openssl_errors(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
