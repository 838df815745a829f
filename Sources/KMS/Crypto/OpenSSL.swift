import DocumentReading
import COpenSSL

/// The few OpenSSL calls more than one file needs: its error queue as text, SHA-256 and
/// HMAC-SHA256 (SigV4), and hex. The attested ingress (which depends on KMS for its HTTPS
/// client) uses the first two too.
public enum OpenSSL {
    /// This thread's queued errors as one line, and the queue emptied.
    public static func drainErrors() -> String {
        var buffer = [CChar](repeating: 0, count: 2048)
        ei_openssl_errors(&buffer, buffer.count)
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.isEmpty ? "OpenSSL gave no detail" : text
    }

    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        _ = EVP_Digest(bytes, bytes.count, &digest, &length, EVP_sha256(), nil)
        return digest
    }

    static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 32
        _ = HMAC(EVP_sha256(), key, Int32(key.count), data, data.count, &mac, &length)
        return mac
    }

    static func hex(_ bytes: [UInt8]) -> String { Hex.string(bytes) }
}
