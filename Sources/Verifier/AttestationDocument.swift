import CBORCoding

/// An NSM attestation document, read strictly: a COSE_Sign1 (RFC 9052; tag 18 optional) whose
/// protected header says ES384 and whose payload is the NSM's map of exactly its nine fields.
/// Every refusal names the field. Nothing here is trusted yet: `Verification` checks the
/// signature and the chain; this only says what the bytes claim.
public struct AttestationDocument: Sendable {
    /// The protected header's bytes, exactly as signed.
    public var protectedHeader: [UInt8]
    /// The payload's bytes, exactly as signed.
    public var payloadBytes: [UInt8]
    /// r ‖ s, 48 bytes each (not DER), in AWS's documents.
    public var signature: [UInt8]
    public var taggedAs18: Bool
    /// The protected header's algorithm (label 1): ES384 (-35) in AWS's documents; `Verification`
    /// refuses any other (QEMU's machine writes -1).
    public var algorithm: Int64
    public var payload: Payload

    public struct Payload: Sendable, Equatable {
        public var moduleID: String
        public var digest: String
        /// Milliseconds since the epoch, the NSM's clock.
        public var timestamp: UInt64
        /// By index, ascending.
        public var pcrs: [(index: Int, value: [UInt8])]
        /// The leaf certificate (DER).
        public var certificate: [UInt8]
        /// DER certificates, the root first, each issuing the next; the last issues the leaf.
        /// Empty, as is `certificate`, in an unsigned document.
        public var cabundle: [[UInt8]]
        public var publicKey: [UInt8]?
        public var userData: [UInt8]?
        public var nonce: [UInt8]?

        public static func == (a: Payload, b: Payload) -> Bool {
            a.moduleID == b.moduleID && a.digest == b.digest && a.timestamp == b.timestamp
                && a.pcrs.map(\.index) == b.pcrs.map(\.index) && a.pcrs.map(\.value) == b.pcrs.map(\.value)
                && a.certificate == b.certificate && a.cabundle == b.cabundle && a.publicKey == b.publicKey
                && a.userData == b.userData && a.nonce == b.nonce
        }

        public func pcr(_ index: Int) -> [UInt8]? { pcrs.first { $0.index == index }?.value }
    }

    /// The bytes the signature covers: Sig_structure = ["Signature1", protected, b"", payload].
    public var signedBytes: [UInt8] {
        CBOR.array([.text("Signature1"), .bytes(protectedHeader), .bytes([]), .bytes(payloadBytes)]).encoded()
    }

    /// ES384 in COSE's algorithm registry.
    public static let es384: Int64 = -35
    /// Far above a real document (about 4.5 KiB with four certificates); refused before parsing.
    public static let maximumSize = 64 * 1024
    /// The NSM's own limits on what a caller may put in: 512, 512 and 1024 bytes.
    static let fieldLimits = ["user_data": 512, "nonce": 512, "public_key": 1024]
    static let maximumBundle = 16
    static let maximumPCRs = 32

    public static func parse(_ bytes: [UInt8]) throws(DocumentError) -> AttestationDocument {
        guard bytes.count <= maximumSize else {
            throw DocumentError("document", "\(bytes.count) bytes, more than \(maximumSize) (an NSM document is about 5 KiB)")
        }
        let outer: CBOR
        do { outer = try CBOR.decode(bytes) } catch { throw DocumentError("document", "not CBOR: \(error)") }
        var item = outer, tagged = false
        if case .tagged(let tag, let inner) = outer {
            guard tag == 18 else { throw DocumentError("document", "tag \(tag), not COSE_Sign1's 18") }
            item = inner
            tagged = true
        }
        guard case .array(let parts) = item, parts.count == 4 else {
            throw DocumentError("document", "not a COSE_Sign1 (an array of 4: protected, unprotected, payload, signature)")
        }
        guard case .bytes(let protected) = parts[0] else { throw DocumentError("protected header", "not a byte string") }
        let algorithm = try readAlgorithm(protected)
        guard case .map = parts[1] else { throw DocumentError("unprotected header", "not a map") }
        guard case .bytes(let payloadBytes) = parts[2] else { throw DocumentError("payload", "not a byte string (a detached payload is not an NSM document)") }
        guard case .bytes(let signature) = parts[3] else { throw DocumentError("signature", "not a byte string") }
        // Its length is the signature check's to judge (QEMU's machine writes 64 bytes); here only bounded.
        guard signature.count <= 512 else { throw DocumentError("signature", "\(signature.count) bytes; ES384's is 96 (r ‖ s)") }
        return AttestationDocument(protectedHeader: protected, payloadBytes: payloadBytes, signature: signature,
                                   taggedAs18: tagged, algorithm: algorithm, payload: try parsePayload(payloadBytes))
    }

    private static func readAlgorithm(_ bytes: [UInt8]) throws(DocumentError) -> Int64 {
        let header: CBOR
        do { header = try CBOR.decode(bytes) } catch { throw DocumentError("protected header", "not CBOR: \(error)") }
        guard case .map(let entries) = header else { throw DocumentError("protected header", "not a map") }
        try rejectDuplicateKeys(entries, "protected header")
        guard let algorithm = entries.first(where: { $0.key == .unsigned(1) })?.value else {
            throw DocumentError("protected header", "no algorithm (label 1)")
        }
        switch algorithm {
        case .negative(let encoded) where encoded < UInt64(Int64.max): return -1 - Int64(encoded)
        case .unsigned(let value) where value <= UInt64(Int64.max): return Int64(value)
        default: throw DocumentError("protected header", "algorithm \(describe(algorithm)), not a COSE algorithm number")
        }
    }

    static func parsePayload(_ encoded: [UInt8]) throws(DocumentError) -> Payload {
        let payload: CBOR
        do { payload = try CBOR.decode(encoded) } catch { throw DocumentError("payload", "not CBOR: \(error)") }
        guard case .map(let entries) = payload else { throw DocumentError("payload", "not a map") }
        try rejectDuplicateKeys(entries, "payload")
        let known = ["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle", "public_key", "user_data", "nonce"]
        for (key, _) in entries {
            guard case .text(let name) = key else { throw DocumentError("payload", "a key that is not text: \(describe(key))") }
            guard known.contains(name) else { throw DocumentError(name, "not a field of an NSM document") }
        }
        func field(_ name: String) throws(DocumentError) -> CBOR {
            guard let value = payload[name] else { throw DocumentError(name, "missing") }
            return value
        }
        func text(_ name: String) throws(DocumentError) -> String {
            guard case .text(let value) = try field(name), !value.isEmpty else { throw DocumentError(name, "not a non-empty text string") }
            return value
        }
        func bytes(_ name: String) throws(DocumentError) -> [UInt8] {
            guard case .bytes(let value) = try field(name), !value.isEmpty else { throw DocumentError(name, "not a non-empty byte string") }
            return value
        }
        func anyBytes(_ name: String) throws(DocumentError) -> [UInt8] {
            guard case .bytes(let value) = try field(name) else { throw DocumentError(name, "not a byte string") }
            return value
        }
        func optionalBytes(_ name: String) throws(DocumentError) -> [UInt8]? {
            switch payload[name] {
            case nil, .null?: return nil
            case .bytes(let value)?:
                let limit = fieldLimits[name] ?? 0
                guard value.count <= limit else { throw DocumentError(name, "\(value.count) bytes, more than the NSM's \(limit)") }
                return value
            case let other?: throw DocumentError(name, "\(describe(other)), not a byte string or null")
            }
        }
        guard case .unsigned(let timestamp) = try field("timestamp"), timestamp > 0 else {
            throw DocumentError("timestamp", "not a positive integer (milliseconds since 1970)")
        }
        guard case .map(let pcrEntries) = try field("pcrs"), !pcrEntries.isEmpty else { throw DocumentError("pcrs", "not a non-empty map") }
        guard pcrEntries.count <= maximumPCRs else { throw DocumentError("pcrs", "\(pcrEntries.count) entries; the NSM has \(maximumPCRs)") }
        try rejectDuplicateKeys(pcrEntries, "pcrs")
        var pcrs: [(index: Int, value: [UInt8])] = []
        for (key, value) in pcrEntries {
            guard case .unsigned(let index) = key, index < UInt64(maximumPCRs) else {
                throw DocumentError("pcrs", "index \(describe(key)), not 0-\(maximumPCRs - 1)")
            }
            guard case .bytes(let digest) = value, [32, 48, 64].contains(digest.count) else {
                throw DocumentError("pcrs[\(index)]", "\(describe(value)), not a SHA-256/384/512 digest")
            }
            pcrs.append((Int(index), digest))
        }
        pcrs.sort { $0.index < $1.index }
        // An empty certificate or bundle (QEMU's nitro-enclave machine, a test's stand-in) is read;
        // the signature and chain checks then fail on it, or are waived with --allow-unsigned.
        guard case .array(let bundleItems) = try field("cabundle") else { throw DocumentError("cabundle", "not an array") }
        guard bundleItems.count <= maximumBundle else { throw DocumentError("cabundle", "\(bundleItems.count) certificates, more than \(maximumBundle)") }
        var bundle: [[UInt8]] = []
        for (position, item) in bundleItems.enumerated() {
            guard case .bytes(let der) = item, !der.isEmpty else { throw DocumentError("cabundle[\(position)]", "not a non-empty byte string") }
            bundle.append(der)
        }
        return Payload(moduleID: try text("module_id"), digest: try text("digest"), timestamp: timestamp, pcrs: pcrs,
                       certificate: try anyBytes("certificate"), cabundle: bundle, publicKey: try optionalBytes("public_key"),
                       userData: try optionalBytes("user_data"), nonce: try optionalBytes("nonce"))
    }

    private static func rejectDuplicateKeys(_ entries: [(key: CBOR, value: CBOR)], _ field: String) throws(DocumentError) {
        for (position, entry) in entries.enumerated() where entries[..<position].contains(where: { $0.key == entry.key }) {
            throw DocumentError(field, "the key \(describe(entry.key)) twice")
        }
    }

    static func describe(_ item: CBOR) -> String {
        switch item {
        case .unsigned(let value): return String(value)
        case .negative(let value): return "-\(value == UInt64.max ? "18446744073709551616" : String(value + 1))"
        case .bytes(let bytes): return "\(bytes.count) bytes"
        case .text(let text): return "\"\(text.prefix(40))\""
        case .array(let items): return "an array of \(items.count)"
        case .map(let entries): return "a map of \(entries.count)"
        case .tagged(let tag, _): return "a tag \(tag)"
        case .bool(let flag): return String(flag)
        case .null: return "null"
        }
    }
}

/// What is wrong with a document's bytes, and where.
public struct DocumentError: Error, Equatable, CustomStringConvertible {
    public var field: String
    public var reason: String
    public init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }
    public var description: String { "\(field): \(reason)" }
}
