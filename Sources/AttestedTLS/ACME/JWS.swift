import COpenSSL
import KMS
import DocumentReading
import ExtrasBase64

/// RFC 7515 JSON Web Signatures as ACME (RFC 8555, 6.2) needs them: flattened JSON, ES256 with
/// a P-256 key made in the enclave, the protected header carrying the account's key (`jwk`)
/// until the CA gave it a URL (`kid`), then that URL, and always the CA's nonce and the
/// request's URL.
struct JWS {
    let key: TLSKey

    /// The account key as a JWK, members in the order RFC 7638 hashes them.
    var jwk: JSONOutput {
        let point = key.publicKeyDER.suffix(65) // an uncompressed P-256 point ends its SPKI: 04 || x || y
        return .object([("crv", .string("P-256")), ("kty", .string("EC")),
                        ("x", .string(Self.base64url(Array(point.dropFirst().prefix(32))))),
                        ("y", .string(Self.base64url(Array(point.suffix(32)))))])
    }

    /// RFC 7638's thumbprint of the JWK: what a key authorization ends with.
    var thumbprint: String { Self.base64url(OpenSSL.sha256(Array(jwk.rendered(pretty: false).utf8))) }

    /// A request body: `payload` nil is POST-as-GET (an empty payload).
    func sign(url: String, nonce: String, accountURL: String?, payload: JSONOutput?) throws(ACMEFailure) -> [UInt8] {
        var header: [(String, JSONOutput)] = [("alg", .string("ES256"))]
        if let accountURL { header.append(("kid", .string(accountURL))) } else { header.append(("jwk", jwk)) }
        header += [("nonce", .string(nonce)), ("url", .string(url))]
        let protected = Self.base64url(Array(JSONOutput.object(header).rendered(pretty: false).utf8))
        let body = payload.map { Self.base64url(Array($0.rendered(pretty: false).utf8)) } ?? ""
        let signature = try es256(Array("\(protected).\(body)".utf8))
        let jws = JSONOutput.object([("protected", .string(protected)), ("payload", .string(body)), ("signature", .string(Self.base64url(signature)))])
        return Array(jws.rendered(pretty: false).utf8)
    }

    /// ECDSA P-256 with SHA-256, as JWS wants it: r and s, 32 bytes each (not OpenSSL's DER).
    private func es256(_ message: [UInt8]) throws(ACMEFailure) -> [UInt8] {
        guard let context = EVP_MD_CTX_new() else { throw .crypto("no digest context") }
        defer { EVP_MD_CTX_free(context) }
        var length = 0
        guard EVP_DigestSignInit(context, nil, EVP_sha256(), nil, key.handle) == 1,
              EVP_DigestSign(context, nil, &length, message, message.count) == 1 else { throw .crypto("cannot sign: \(OpenSSL.drainErrors())") }
        var der = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &der, &length, message, message.count) == 1 else { throw .crypto("cannot sign: \(OpenSSL.drainErrors())") }
        var cursor: UnsafePointer<UInt8>? = der.withUnsafeBufferPointer { $0.baseAddress }
        let signature = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            cursor = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, length)
        }
        guard let signature else { throw .crypto("OpenSSL's signature does not parse") }
        defer { ECDSA_SIG_free(signature) }
        var out = [UInt8](repeating: 0, count: 64)
        guard BN_bn2binpad(ECDSA_SIG_get0_r(signature), &out, 32) == 32,
              out.withUnsafeMutableBufferPointer({ BN_bn2binpad(ECDSA_SIG_get0_s(signature), $0.baseAddress! + 32, 32) }) == 32 else {
            throw .crypto("the signature's r or s is over 32 bytes")
        }
        return out
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Base64.encodeToString(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }
}

/// A certificate signing request for `names` with the ingress's own key (PKCS #10, DER): the
/// CA's certificate is then for the key the binding already names.
enum CertificateRequest {
    static func der(names: [String], key: TLSKey) throws(ACMEFailure) -> [UInt8] {
        guard let request = X509_REQ_new() else { throw .crypto("cannot allocate a CSR") }
        defer { X509_REQ_free(request) }
        let subject = X509_REQ_get_subject_name(request)
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, nil, nil, request, nil, 0)
        guard X509_REQ_set_version(request, 0) == 1, X509_REQ_set_pubkey(request, key.handle) == 1,
              X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, names[0], -1, -1, 0) == 1,
              let san = X509V3_EXT_conf_nid(nil, &context, NID_subject_alt_name, names.map { "DNS:\($0)" }.joined(separator: ",")) else {
            throw .crypto("cannot make the CSR: \(OpenSSL.drainErrors())")
        }
        defer { X509_EXTENSION_free(san) }
        guard ei_x509_req_add_extension(request, san) == 1, X509_REQ_sign(request, key.handle, EVP_sha256()) > 0 else {
            throw .crypto("cannot sign the CSR: \(OpenSSL.drainErrors())")
        }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509_REQ(request, &out)
        guard length > 0, let out else { throw .crypto("cannot encode the CSR") }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
