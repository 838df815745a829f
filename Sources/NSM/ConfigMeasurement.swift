import COpenSSL
import DocumentReading

/// The boot JSON measured into a PCR (16 by default, `measure.pcr`): at boot, before any
/// service, the app or a secret, enclave-init extends the PCR with the SHA-384 of the exact
/// bytes it read and locks it, so a document names the config as PCR0-2 name the image, and a
/// KMS key policy or `verify --pcr 16=…` can require it. A fresh PCR is 48 zero bytes, so the
/// value is SHA384(48 zero bytes ‖ SHA384(bytes)), which `plan` and `build` print beforehand.
public enum ConfigMeasurement {
    public static let defaultPCR = 16
    public static let allowed: ClosedRange<Int> = 16...31

    public struct Failure: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// SHA-384 of `bytes`.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 48)
        var size: UInt32 = 48
        _ = EVP_Digest(bytes, bytes.count, &out, &size, EVP_sha384(), nil)
        return out
    }

    /// The PCR's value once `config` is extended into a fresh one.
    public static func expectedValue(of config: [UInt8]) -> [UInt8] {
        digest([UInt8](repeating: 0, count: 48) + digest(config))
    }

    /// Extends PCR `index` with the config's digest, locks it, reads it back; the value, or why
    /// the boot must stop: a PCR locked or extended before (something ran before enclave-init),
    /// an NSM that refuses, a value that is not the one `plan` printed.
    public static func measure(_ config: [UInt8], pcr index: Int, nsm call: (NSMRequest) throws -> NSMResponse) throws(Failure) -> [UInt8] {
        let pcr = UInt16(index)
        func ask(_ request: NSMRequest, _ what: String) throws(Failure) -> NSMResponse {
            let response: NSMResponse
            do { response = try call(request) } catch { throw Failure(reason: "\(what): \(error)") }
            switch response {
            case .error(let code): throw Failure(reason: "\(what): the NSM answered \(code.rawValue)")
            case .unknownError(let code): throw Failure(reason: "\(what): the NSM answered \(code)")
            default: return response
            }
        }
        guard case .describePCR(let lockedBefore, let before) = try ask(.describePCR(index: pcr), "reading PCR\(index)") else {
            throw Failure(reason: "reading PCR\(index): the NSM gave another answer")
        }
        if lockedBefore { throw Failure(reason: "PCR\(index) is locked already: something set it before enclave-init, which must be the first to") }
        guard before.allSatisfy({ $0 == 0 }) else {
            throw Failure(reason: "PCR\(index) is \(Hex.string(before).prefix(16))…, not fresh: something extended it before enclave-init, which must be the first to")
        }
        guard case .extendPCR(let value) = try ask(.extendPCR(index: pcr, data: digest(config)), "extending PCR\(index)") else {
            throw Failure(reason: "extending PCR\(index): the NSM gave another answer")
        }
        let expected = expectedValue(of: config)
        guard value == expected else {
            throw Failure(reason: "PCR\(index) became \(Hex.string(value).prefix(16))…, not \(Hex.string(expected).prefix(16))… as plan computes it")
        }
        _ = try ask(.lockPCR(index: pcr), "locking PCR\(index)")
        guard case .describePCR(let locked, let after) = try ask(.describePCR(index: pcr), "reading PCR\(index) back"), locked, after == value else {
            throw Failure(reason: "PCR\(index) does not read back locked with the value it was extended to")
        }
        return value
    }
}
