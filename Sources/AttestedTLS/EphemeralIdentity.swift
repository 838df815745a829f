import COpenSSL
import Glibc

/// A TLS server identity made at boot and held only in this process's memory: a P-256 key
/// (never written, never logged) and a self-signed certificate for the configured names. The
/// attested ingress (`ingress[].tls`) serves it, and a client binds it to the enclave through an
/// attestation document that names the certificate's public key.
public final class EphemeralIdentity: @unchecked Sendable {
    /// The private key and the certificate (OpenSSL's objects, freed with this value).
    let key: OpaquePointer
    let certificate: OpaquePointer

    public struct Failure: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// A fresh key and a certificate for `names` (DNS names; the first is also the subject's
    /// CN), valid from an hour ago (clock skew between client and enclave) for `days`.
    public init(names: [String], days: Int = 30) throws(Failure) {
        guard !names.isEmpty, names.allSatisfy(Self.isDNSName) else {
            throw Failure(reason: "the certificate's names must be DNS names: \(names)")
        }
        guard let key = ei_ec_generate("P-256") else { throw Failure(reason: "cannot make a P-256 key: \(Self.drainErrors())") }
        guard let certificate = X509_new() else {
            EVP_PKEY_free(key)
            throw Failure(reason: "cannot allocate a certificate")
        }
        self.key = key
        self.certificate = certificate
        var serial = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&serial, Int32(serial.count)) == 1 else { throw Failure(reason: "no random serial number: \(Self.drainErrors())") }
        serial[0] &= 0x7F // a positive INTEGER
        let number = BN_bin2bn(serial, Int32(serial.count), nil)
        defer { BN_free(number) }
        let subject = X509_get_subject_name(certificate)
        guard X509_set_version(certificate, 2) == 1,
              BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate)) != nil,
              X509_gmtime_adj(X509_getm_notBefore(certificate), -3600) != nil,
              X509_gmtime_adj(X509_getm_notAfter(certificate), days * 86_400) != nil,
              X509_set_pubkey(certificate, key) == 1,
              X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, names[0], -1, -1, 0) == 1,
              X509_set_issuer_name(certificate, subject) == 1,
              addExtension(NID_subject_alt_name, names.map { "DNS:\($0)" }.joined(separator: ",")),
              addExtension(NID_basic_constraints, "critical,CA:FALSE"),
              addExtension(NID_key_usage, "critical,digitalSignature"),
              addExtension(NID_ext_key_usage, "serverAuth"),
              X509_sign(certificate, key, EVP_sha256()) > 0 else {
            throw Failure(reason: "cannot make the certificate: \(Self.drainErrors())")
        }
    }

    deinit {
        X509_free(certificate)
        EVP_PKEY_free(key)
    }

    /// The certificate, DER.
    public var certificateDER: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(certificate, &out)
        guard length > 0, let out else { return [] }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// The certificate, PEM: what the app may read (never the key).
    public var certificatePEM: String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard PEM_write_bio_X509(bio, certificate) == 1 else { return "" }
        var bytes = [UInt8](repeating: 0, count: Int(ei_bio_pending(bio)))
        let count = BIO_read(bio, &bytes, Int32(bytes.count))
        return String(decoding: bytes.prefix(max(Int(count), 0)), as: UTF8.self)
    }

    /// SHA-256 of the certificate's SubjectPublicKeyInfo (DER): what an attestation document
    /// names to bind this key to the enclave, and what a client pins.
    public var publicKeySHA256: [UInt8] {
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(key, &der)
        guard length > 0, let der else { return [] }
        defer { CRYPTO_free(der, #fileID, #line) }
        var digest = [UInt8](repeating: 0, count: 32)
        var size: UInt32 = 32
        _ = EVP_Digest(der, Int(length), &digest, &size, EVP_sha256(), nil)
        return digest
    }

    private func addExtension(_ nid: Int32, _ value: String) -> Bool {
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, certificate, certificate, nil, nil, 0)
        guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else { return false }
        defer { X509_EXTENSION_free(ext) }
        return X509_add_ext(certificate, ext, -1) == 1
    }

    static func isDNSName(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return name.utf8.count <= 253 && !labels.isEmpty && labels.enumerated().allSatisfy { index, label in
            (1...63).contains(label.utf8.count) && (label == "*" ? index == 0 : label.utf8.allSatisfy {
                ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D
            }) && !label.hasPrefix("-") && !label.hasSuffix("-")
        }
    }

    static func drainErrors() -> String {
        var buffer = [CChar](repeating: 0, count: 2048)
        ei_openssl_errors(&buffer, buffer.count)
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.isEmpty ? "OpenSSL gave no detail" : text
    }
}
