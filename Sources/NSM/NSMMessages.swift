import CBORCoding

/// The NSM's requests and responses (aws-nitro-enclaves-nsm-api's serde form: a unit variant
/// is a bare text string, a struct variant a one-entry map from its name to its fields).
public enum NSMRequest: Sendable, Equatable {
    case attestation(userData: [UInt8]?, nonce: [UInt8]?, publicKey: [UInt8]?)
    case getRandom
    case describePCR(index: UInt16)
    case describeNSM
    /// PCR `index` (16-31) becomes SHA384(PCR ‖ data).
    case extendPCR(index: UInt16, data: [UInt8])
    /// No more extends of PCR `index` until the enclave ends.
    case lockPCR(index: UInt16)

    /// The largest request the device takes, and the largest of each attestation field.
    public static let maximumLength = 0x1000
    public static let maximumFieldLength = 1024

    public var cbor: CBOR {
        switch self {
        case .attestation(let userData, let nonce, let publicKey):
            func field(_ bytes: [UInt8]?) -> CBOR { bytes.map(CBOR.bytes) ?? .null }
            return .map([(.text("Attestation"), .map([(.text("user_data"), field(userData)), (.text("nonce"), field(nonce)),
                                                      (.text("public_key"), field(publicKey))]))])
        case .getRandom: return .text("GetRandom")
        case .describePCR(let index): return .map([(.text("DescribePCR"), .map([(.text("index"), .unsigned(UInt64(index)))]))])
        case .describeNSM: return .text("DescribeNSM")
        case .extendPCR(let index, let data):
            return .map([(.text("ExtendPCR"), .map([(.text("index"), .unsigned(UInt64(index))), (.text("data"), .bytes(data))]))])
        case .lockPCR(let index): return .map([(.text("LockPCR"), .map([(.text("index"), .unsigned(UInt64(index)))]))])
        }
    }
}

/// The NSM's error codes (its `ErrorCode`), named as the device names them.
public enum NSMErrorCode: String, Sendable, Equatable, CaseIterable {
    case success = "Success"
    case invalidArgument = "InvalidArgument"
    case invalidIndex = "InvalidIndex"
    case invalidResponse = "InvalidResponse"
    case readOnlyIndex = "ReadOnlyIndex"
    case invalidOperation = "InvalidOperation"
    case bufferTooSmall = "BufferTooSmall"
    case inputTooLarge = "InputTooLarge"
    case internalError = "InternalError"
}

public enum NSMResponse: Sendable, Equatable {
    case attestation(document: [UInt8])
    case getRandom(random: [UInt8])
    case describePCR(lock: Bool, data: [UInt8])
    /// The PCR's value after the extend.
    case extendPCR(data: [UInt8])
    case lockPCR
    case describeNSM(versionMajor: UInt64, versionMinor: UInt64, versionPatch: UInt64, moduleID: String,
                     maxPCRs: UInt64, lockedPCRs: [UInt64], digest: String)
    case error(NSMErrorCode)
    /// An error code this build does not know, kept as the device said it.
    case unknownError(String)

    /// The largest response the device gives.
    public static let maximumLength = 0x3000

    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { "the NSM's answer is malformed: \(reason)" }
    }

    public init(cbor: CBOR) throws(Malformed) {
        if case .text(let unit) = cbor {
            // Unit variants: the answers that carry nothing.
            guard unit == "LockPCR" else { throw Malformed(reason: "a bare \"\(unit)\" is not a response") }
            self = .lockPCR
            return
        }
        guard case .map(let outer) = cbor, outer.count == 1, case .text(let name) = outer[0].key else {
            throw Malformed(reason: "not a one-entry map from a response name")
        }
        let body = outer[0].value
        func bytes(_ key: String) throws(Malformed) -> [UInt8] {
            guard case .bytes(let value)? = body[key] else { throw Malformed(reason: "\(name) without bytes \"\(key)\"") }
            return value
        }
        func number(_ key: String) throws(Malformed) -> UInt64 {
            guard case .unsigned(let value)? = body[key] else { throw Malformed(reason: "\(name) without a number \"\(key)\"") }
            return value
        }
        switch name {
        case "Attestation": self = .attestation(document: try bytes("document"))
        case "GetRandom": self = .getRandom(random: try bytes("random"))
        case "ExtendPCR": self = .extendPCR(data: try bytes("data"))
        case "LockPCR": self = .lockPCR
        case "DescribePCR":
            guard case .bool(let lock)? = body["lock"] else { throw Malformed(reason: "DescribePCR without \"lock\"") }
            self = .describePCR(lock: lock, data: try bytes("data"))
        case "DescribeNSM":
            guard case .text(let module)? = body["module_id"], case .text(let digest)? = body["digest"],
                  case .array(let locked)? = body["locked_pcrs"] else { throw Malformed(reason: "DescribeNSM without its fields") }
            var lockedPCRs: [UInt64] = []
            for item in locked {
                guard case .unsigned(let index) = item else { throw Malformed(reason: "DescribeNSM locked_pcrs holds a non-number") }
                lockedPCRs.append(index)
            }
            self = .describeNSM(versionMajor: try number("version_major"), versionMinor: try number("version_minor"),
                                versionPatch: try number("version_patch"), moduleID: module, maxPCRs: try number("max_pcrs"),
                                lockedPCRs: lockedPCRs, digest: digest)
        case "Error":
            guard case .text(let code) = body else { throw Malformed(reason: "Error without its code") }
            self = NSMErrorCode(rawValue: code).map(NSMResponse.error) ?? .unknownError(code)
        default:
            throw Malformed(reason: "unknown response \"\(name)\"")
        }
    }
}
