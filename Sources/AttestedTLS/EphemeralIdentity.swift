import Addressing
import COpenSSL
import KMS
import Glibc

/// A private key made in this process's memory (P-256): never written, never logged, gone
/// with the process. The attested ingress's certificates (self-signed, then the CA's) are all
/// for this one key, so the binding a client checked survives a renewal.
public final class TLSKey: @unchecked Sendable {
    let handle: OpaquePointer

    public init() throws(EphemeralIdentity.Failure) {
        guard let key = ei_ec_generate("P-256") else {
            throw EphemeralIdentity.Failure(reason: "cannot make a P-256 key: \(OpenSSL.drainErrors())")
        }
        handle = key
    }

    deinit { EVP_PKEY_free(handle) }

    /// The SubjectPublicKeyInfo, DER.
    public var publicKeyDER: [UInt8] {
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(handle, &der)
        guard length > 0, let der else { return [] }
        defer { CRYPTO_free(der, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: der, count: Int(length)))
    }

    /// SHA-256 of the SubjectPublicKeyInfo (DER): what the binding's document names.
    public var publicKeySHA256: [UInt8] { OpenSSL.sha256(publicKeyDER) }
}

/// A TLS server identity held only in this process's memory: a key (TLSKey) and its
/// certificate, self-signed for the configured names or issued by a CA (with the CA's
/// intermediates). The attested ingress (`ingress[].tls`) serves it, and a client binds it to
/// the enclave through an attestation document that names the certificate's public key.
public final class EphemeralIdentity: @unchecked Sendable {
    public let key: TLSKey
    /// The leaf certificate (OpenSSL's object, freed with this value).
    let certificate: OpaquePointer
    /// A CA's certificates after the leaf, sent with it.
    let intermediates: [OpaquePointer]

    public struct Failure: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// A certificate for `names` (DNS names; the first is also the subject's CN) signed by
    /// `key` itself (a fresh one by default), valid from an hour ago (clock skew between client
    /// and enclave) for `days`. `acmeIdentifier`: RFC 8737's challenge certificate, whose
    /// critical extension carries the SHA-256 of the key authorization.
    public init(names: [String], days: Int = 30, key given: TLSKey? = nil, acmeIdentifier: [UInt8]? = nil) throws(Failure) {
        guard !names.isEmpty, names.allSatisfy(Self.isDNSName) else {
            throw Failure(reason: "the certificate's names must be DNS names: \(names)")
        }
        let key: TLSKey
        if let given { key = given } else { key = try TLSKey() }
        guard let certificate = X509_new() else { throw Failure(reason: "cannot allocate a certificate") }
        self.key = key
        self.certificate = certificate
        self.intermediates = []
        self.isIssued = false
        var serial = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&serial, Int32(serial.count)) == 1 else { throw Failure(reason: "no random serial number: \(OpenSSL.drainErrors())") }
        serial[0] &= 0x7F // a positive INTEGER
        let number = BN_bin2bn(serial, Int32(serial.count), nil)
        defer { BN_free(number) }
        let subject = X509_get_subject_name(certificate)
        guard X509_set_version(certificate, 2) == 1,
              BN_to_ASN1_INTEGER(number, X509_get_serialNumber(certificate)) != nil,
              X509_gmtime_adj(X509_getm_notBefore(certificate), -3600) != nil,
              X509_gmtime_adj(X509_getm_notAfter(certificate), days * 86_400) != nil,
              X509_set_pubkey(certificate, key.handle) == 1,
              X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, names[0], -1, -1, 0) == 1,
              X509_set_issuer_name(certificate, subject) == 1,
              addExtension(NID_subject_alt_name, names.map { "DNS:\($0)" }.joined(separator: ",")),
              // No keyUsage: with one, OpenSSL (Python's ssl, and others that do not accept a
              // partial chain as curl does) no longer finds a self-signed certificate its own
              // issuer, and a client that trusts exactly this certificate still refuses it.
              addExtension(NID_basic_constraints, "critical,CA:FALSE"),
              addExtension(NID_ext_key_usage, "serverAuth"),
              acmeIdentifier.map(addACMEIdentifier) ?? true,
              X509_sign(certificate, key.handle, EVP_sha256()) > 0 else {
            throw Failure(reason: "cannot make the certificate: \(OpenSSL.drainErrors())")
        }
    }

    /// A CA's chain (PEM: the leaf first, then intermediates) for `key`; fails when the leaf
    /// is not for that key.
    public init(key: TLSKey, chainPEM: String) throws(Failure) {
        var certificates: [OpaquePointer] = []
        let bytes = Array(chainPEM.utf8)
        guard let bio = ei_bio_copying(bytes, bytes.count) else { throw Failure(reason: "cannot read the chain") }
        defer { BIO_free(bio) }
        while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) { certificates.append(certificate) }
        ERR_clear_error() // the end of the input reads as an error
        guard let leaf = certificates.first else { throw Failure(reason: "the CA's answer holds no PEM certificate") }
        self.key = key
        self.certificate = leaf
        self.intermediates = Array(certificates.dropFirst())
        self.isIssued = true
        guard X509_check_private_key(leaf, key.handle) == 1 else {
            throw Failure(reason: "the CA's certificate is not for the enclave's key: \(OpenSSL.drainErrors())")
        }
    }

    deinit {
        X509_free(certificate)
        for intermediate in intermediates { X509_free(intermediate) }
    }

    /// The leaf's notAfter, as seconds since 1970.
    public var notAfter: Int64 { Self.seconds(X509_get0_notAfter(certificate)) }
    public var notBefore: Int64 { Self.seconds(X509_get0_notBefore(certificate)) }

    private static func seconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int64 {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else { return 0 }
        return Int64(timegm(&parts))
    }

    /// Whether a CA signed it (the chain came from one), not enclave-init itself.
    public let isIssued: Bool

    /// The certificate, DER.
    public var certificateDER: [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(certificate, &out)
        guard length > 0, let out else { return [] }
        defer { CRYPTO_free(out, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }

    /// The certificate and its intermediates, PEM: what the app may read (never the key).
    public var certificatePEM: String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard ([certificate] + intermediates).allSatisfy({ PEM_write_bio_X509(bio, $0) == 1 }) else { return "" }
        var bytes = [UInt8](repeating: 0, count: Int(ei_bio_pending(bio)))
        let count = BIO_read(bio, &bytes, Int32(bytes.count))
        return String(decoding: bytes.prefix(max(Int(count), 0)), as: UTF8.self)
    }

    /// SHA-256 of the certificate's SubjectPublicKeyInfo (DER): what an attestation document
    /// names to bind this key to the enclave, and what a client pins.
    public var publicKeySHA256: [UInt8] { key.publicKeySHA256 }

    /// SHA-256 of the leaf certificate (DER): the fingerprint `openssl x509 -fingerprint -sha256` prints.
    public var certificateSHA256: [UInt8] { OpenSSL.sha256(certificateDER) }

    /// RFC 8737: id-pe-acmeIdentifier (1.3.6.1.5.5.7.1.31), critical, an OCTET STRING of the
    /// 32-byte SHA-256 of the key authorization.
    private func addACMEIdentifier(_ digest: [UInt8]) -> Bool {
        guard digest.count == 32, let object = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1), let value = ASN1_OCTET_STRING_new() else { return false }
        defer {
            ASN1_OBJECT_free(object)
            ASN1_OCTET_STRING_free(value)
        }
        let inner: [UInt8] = [0x04, 0x20] + digest // the extension's value: DER of an OCTET STRING
        guard ASN1_OCTET_STRING_set(value, inner, Int32(inner.count)) == 1,
              let ext = X509_EXTENSION_create_by_OBJ(nil, object, 1, value) else { return false }
        defer { X509_EXTENSION_free(ext) }
        return X509_add_ext(certificate, ext, -1) == 1
    }

    private func addExtension(_ nid: Int32, _ value: String) -> Bool {
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, certificate, certificate, nil, nil, 0)
        guard let ext = X509V3_EXT_conf_nid(nil, &context, nid, value) else { return false }
        defer { X509_EXTENSION_free(ext) }
        return X509_add_ext(certificate, ext, -1) == 1
    }

    /// A DNS name as Addressing's Hostname takes it, a "*." in front allowed (the config's rule).
    static func isDNSName(_ name: String) -> Bool {
        Hostname.isValid(name.hasPrefix("*.") ? String(name.dropFirst(2)) : name)
    }
}
