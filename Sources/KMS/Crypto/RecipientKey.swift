import COpenSSL

/// The enclave's RSA-2048 key pair for KMS's Recipient: made in memory at boot, its public
/// half sent in an attestation document, its private half never leaving this object. KMS
/// encrypts its answer to it as a CMS EnvelopedData (RSAES-OAEP-SHA256 for the key,
/// AES-256-CBC for the content); OpenSSL's CMS reads BER, indefinite lengths included.
public final class RecipientKey: @unchecked Sendable {
    public enum Failure: Error, Equatable, CustomStringConvertible {
        case generation(String)
        case malformedEnvelope(String)
        case decryption(String)

        public var description: String {
            switch self {
            case .generation(let detail): return "cannot make the RSA-2048 key pair: \(detail)"
            case .malformedEnvelope(let detail): return "CiphertextForRecipient is not a CMS EnvelopedData: \(detail)"
            case .decryption(let detail): return "CiphertextForRecipient does not decrypt with this enclave's key: \(detail)"
            }
        }
    }

    /// EVP_PKEY: freed (and its private key cleared by OpenSSL) on release.
    private let key: OpaquePointer
    /// DER SubjectPublicKeyInfo: what the attestation document's public_key carries.
    public let publicKeyDER: [UInt8]

    public static let bits: UInt32 = 2048

    public init() throws(Failure) {
        guard let key = ei_rsa_generate(Self.bits) else { throw .generation(OpenSSL.drainErrors()) }
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(key, &der)
        guard length > 0, let der else {
            EVP_PKEY_free(key)
            throw .generation("cannot encode the public key: \(OpenSSL.drainErrors())")
        }
        self.key = key
        publicKeyDER = Array(UnsafeBufferPointer(start: der, count: Int(length)))
        CRYPTO_free(der, #fileID, #line)
    }

    deinit { EVP_PKEY_free(key) }

    /// The plaintext inside a CiphertextForRecipient.
    public func unwrap(_ envelope: [UInt8]) throws(Failure) -> SecretBytes {
        guard !envelope.isEmpty else { throw .malformedEnvelope("it is empty") }
        guard let input = ei_bio_copying(envelope, envelope.count) else {
            throw .decryption(OpenSSL.drainErrors())
        }
        defer { BIO_free(input) }
        guard let cms = d2i_CMS_bio(input, nil) else { throw .malformedEnvelope(OpenSSL.drainErrors()) }
        defer { CMS_ContentInfo_free(cms) }
        guard OBJ_obj2nid(CMS_get0_type(cms)) == NID_pkcs7_enveloped else {
            throw .malformedEnvelope("its content type is not envelopedData (1.2.840.113549.1.7.3)")
        }
        guard let output = BIO_new(BIO_s_mem()) else { throw .decryption(OpenSSL.drainErrors()) }
        defer { BIO_free(output) }
        // No certificate: the one recipient is tried with this key. CMS_DEBUG_DECRYPT makes a
        // wrong key an error instead of a random-key decryption (the Bleichenbacher defence is
        // for servers answering attackers; here the caller must learn the envelope is not ours).
        guard CMS_decrypt(cms, key, nil, nil, output, UInt32(CMS_BINARY | CMS_DEBUG_DECRYPT)) == 1 else {
            throw .decryption(OpenSSL.drainErrors())
        }
        var pointer: UnsafeMutablePointer<CChar>?
        let length = BIO_ctrl(output, BIO_CTRL_INFO, 0, &pointer)
        guard length >= 0 else { throw .decryption("no output") }
        let plaintext = SecretBytes(pointer.map { Array(UnsafeRawBufferPointer(start: $0, count: length)) } ?? [])
        // The memory BIO's own copy is cleared before it is freed.
        if let pointer, length > 0 { OPENSSL_cleanse(pointer, length) }
        return plaintext
    }
}
