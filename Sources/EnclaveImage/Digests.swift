import COpenSSL

/// A running digest over OpenSSL's EVP interface, which the binary links anyway (TLS, RSA and CMS
/// for KMS): SHA-384 for the PCRs of an enclave image, SHA-256 for the digests that name an OCI
/// image's blobs. A value, as a hash state is: a copy runs on from where the original was
/// (copy on write, with EVP_MD_CTX_copy_ex), so a blob's digest can be read while it is still
/// being fed.
struct Digest {
    private final class Context {
        let pointer: OpaquePointer

        init(_ algorithm: OpaquePointer) {
            pointer = EVP_MD_CTX_new()!
            EVP_DigestInit_ex(pointer, algorithm, nil)
        }

        init(copying other: Context) {
            pointer = EVP_MD_CTX_new()!
            EVP_MD_CTX_copy_ex(pointer, other.pointer)
        }

        deinit { EVP_MD_CTX_free(pointer) }
    }

    private var context: Context

    init(_ algorithm: OpaquePointer) {
        context = Context(algorithm)
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        if !isKnownUniquelyReferenced(&context) { context = Context(copying: context) }
        EVP_DigestUpdate(context.pointer, bytes.baseAddress, bytes.count)
    }

    mutating func update<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if done == nil { Array(bytes).withUnsafeBytes { update($0) } }
    }

    /// The digest of everything fed; the state is spent (as the hash's own is).
    mutating func finish() -> [UInt8] {
        if !isKnownUniquelyReferenced(&context) { context = Context(copying: context) }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context.pointer, &digest, &length)
        return Array(digest.prefix(Int(length)))
    }
}

/// SHA-384 (FIPS 180-4), streaming: the PCRs. Checked against sha384sum and the FIPS examples in
/// the tests.
struct SHA384 {
    static let digestBytes = 48
    private var digest = Digest(EVP_sha384())

    init() {}

    mutating func update(_ bytes: UnsafeRawBufferPointer) { digest.update(bytes) }
    mutating func update<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 { digest.update(bytes) }
    mutating func finish() -> [UInt8] { digest.finish() }

    static func hash<Bytes: Collection>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var hasher = SHA384()
        hasher.update(bytes)
        return hasher.finish()
    }
}

/// SHA-256, streaming: the digests that name an OCI image's blobs, checked as each blob is read;
/// `hash` also for the verifier's fingerprints of a TLS certificate and its key.
public struct SHA256 {
    private var digest = Digest(EVP_sha256())

    init() {}

    mutating func update(_ bytes: UnsafeRawBufferPointer) { digest.update(bytes) }
    mutating func update(_ bytes: [UInt8]) { digest.update(bytes) }
    mutating func finish() -> [UInt8] { digest.finish() }

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finish()
    }
}
