import COpenSSL
import Glibc

/// One X.509 certificate, parsed by OpenSSL (never by hand), and what the verifier asks of it.
final class Certificate {
    let der: [UInt8]
    let handle: OpaquePointer

    /// Nil when OpenSSL does not take the bytes as one DER certificate, or there are bytes after it.
    init?(der: [UInt8]) {
        var parsed: OpaquePointer?
        let consumed: Int = der.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            parsed = d2i_X509(nil, &cursor, buffer.count)
            guard let cursor, let base = buffer.baseAddress else { return -1 }
            return cursor - base
        }
        guard let parsed else { return nil }
        guard consumed == der.count else {
            X509_free(parsed)
            return nil
        }
        self.der = der
        handle = parsed
    }

    /// A PEM file's first certificate, or a DER file.
    convenience init?(pemOrDER bytes: [UInt8]) {
        if bytes.starts(with: Array("-----BEGIN".utf8)) {
            guard let bio = ei_bio_copying(bytes, bytes.count) else { return nil }
            defer { BIO_free(bio) }
            guard let x509 = PEM_read_bio_X509(bio, nil, nil, nil) else { return nil }
            defer { X509_free(x509) }
            var out: UnsafeMutablePointer<UInt8>?
            let length = i2d_X509(x509, &out)
            guard length > 0, let out else { return nil }
            defer { CRYPTO_free(out, #fileID, #line) }
            self.init(der: Array(UnsafeBufferPointer(start: out, count: Int(length))))
        } else {
            self.init(der: bytes)
        }
    }

    deinit { X509_free(handle) }

    var subject: String { Self.name(X509_get_subject_name(handle)) }
    var issuer: String { Self.name(X509_get_issuer_name(handle)) }

    /// SHA-256 of the DER bytes: what pins AWS's root.
    var sha256Fingerprint: [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        _ = EVP_Digest(der, der.count, &digest, &length, EVP_sha256(), nil)
        return digest
    }

    var notBefore: Int64? { Self.seconds(X509_get0_notBefore(handle)) }
    var notAfter: Int64? { Self.seconds(X509_get0_notAfter(handle)) }

    /// Whether `self` issued `subject` (names, key identifiers and key usage; OpenSSL's check).
    func issued(_ subject: Certificate) -> Bool { X509_check_issued(handle, subject.handle) == X509_V_OK }

    /// The curve of an EC public key ("secp384r1"), nil for any other key.
    var curveName: String? {
        guard let key = X509_get0_pubkey(handle), EVP_PKEY_get_base_id(key) == EVP_PKEY_EC else { return nil }
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 else { return nil }
        return String(cString: name)
    }

    /// ECDSA with SHA-384 over `message`, the signature given as COSE writes it (r ‖ s, 48
    /// bytes each), checked with this certificate's public key.
    func verifiesES384(_ rawSignature: [UInt8], over message: [UInt8]) -> Bool {
        guard rawSignature.count == 96, curveName == "secp384r1", let key = X509_get0_pubkey(handle),
              let signature = ECDSA_SIG_new() else { return false }
        defer { ECDSA_SIG_free(signature) }
        let r = BN_bin2bn(rawSignature, 48, nil), s = BN_bin2bn(Array(rawSignature[48...]), 48, nil)
        guard let r, let s, ECDSA_SIG_set0(signature, r, s) == 1 else {
            BN_free(r)
            BN_free(s)
            return false
        }
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_ECDSA_SIG(signature, &der)
        guard length > 0, let der else { return false }
        defer { CRYPTO_free(der, #fileID, #line) }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, EVP_sha384(), nil, key) == 1 else { return false }
        let verified = EVP_DigestVerify(context, der, Int(length), message, message.count) == 1
        ERR_clear_error()
        return verified
    }

    private static func name(_ name: OpaquePointer?) -> String {
        guard let name else { return "?" }
        var buffer = [CChar](repeating: 0, count: 512)
        X509_NAME_oneline(name, &buffer, Int32(buffer.count))
        return String(cString: buffer)
    }

    private static func seconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int64? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return Int64(timegm(&parts))
    }
}

/// OpenSSL's chain verification: `leaf` up through `intermediates` to `root`, the only trusted
/// certificate, with every certificate's validity checked at `time` (seconds since 1970).
/// Returns nil when it holds, else OpenSSL's reason and the depth it failed at.
func chainError(leaf: Certificate, intermediates: [Certificate], root: Certificate, at time: Int64) -> String? {
    guard let store = X509_STORE_new() else { return "OpenSSL could not allocate a certificate store" }
    defer { X509_STORE_free(store) }
    guard X509_STORE_add_cert(store, root.handle) == 1, let untrusted = ei_x509_stack_new() else {
        return "OpenSSL could not take the root certificate"
    }
    defer { ei_x509_stack_free(untrusted) }
    for certificate in intermediates { _ = ei_x509_stack_push(untrusted, certificate.handle) }
    guard let context = X509_STORE_CTX_new() else { return "OpenSSL could not allocate a verification context" }
    defer { X509_STORE_CTX_free(context) }
    guard X509_STORE_CTX_init(context, store, leaf.handle, untrusted) == 1 else { return "OpenSSL could not start the verification" }
    X509_STORE_CTX_set_time(context, 0, time_t(time))
    let verified = X509_verify_cert(context) == 1
    ERR_clear_error()
    guard !verified else { return nil }
    let code = X509_STORE_CTX_get_error(context)
    let depth = X509_STORE_CTX_get_error_depth(context)
    return "\(String(cString: X509_verify_cert_error_string(Int(code)))) (at depth \(depth), 0 being the leaf)"
}
