import COpenSSL

/// A plaintext from KMS while enclave-init holds it: zeroed when released, never printed.
/// Swift may still copy an array's storage behind our back; this keeps the copies we make
/// short-lived and wipes the one we own.
public final class SecretBytes: @unchecked Sendable, CustomStringConvertible {
    public private(set) var bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var count: Int { bytes.count }
    public var description: String { "<\(bytes.count) secret bytes>" }

    /// Overwrites the bytes with zeros (also done on release).
    public func wipe() {
        // OpenSSL's cleanse: a memset the optimiser may not remove.
        bytes.withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress { OPENSSL_cleanse(base, buffer.count) }
        }
    }

    deinit { wipe() }
}
