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
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            // memset_explicit is not in this glibc; a volatile-free loop the optimiser keeps
            // because the buffer escapes to the caller's array.
            for index in 0..<buffer.count { base.storeBytes(of: 0, toByteOffset: index, as: UInt8.self) }
        }
    }

    deinit { wipe() }
}
