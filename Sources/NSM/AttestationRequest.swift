import DocumentReading
import ExtrasBase64

/// The body of `POST /v1/attestation`, as Enclaver's API has it: a JSON object with optional
/// `nonce` and `user_data` (base64) and `public_key` (PEM, or base64 DER); an empty body
/// asks for a document with none of them. Each field is at most 1024 bytes once decoded.
public enum AttestationRequest {
    public static let maximumBodyBytes = 16 * 1024
    static let fields = ["nonce", "user_data", "public_key"]

    public struct BadRequest: Error, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    public static func parse(_ body: [UInt8]) -> Result<NSMRequest, BadRequest> {
        guard body.count <= maximumBodyBytes else { return .failure(BadRequest(reason: "the body is \(body.count) bytes; at most \(maximumBodyBytes)")) }
        if body.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 10 || $0 == 13 }) { return .success(.attestation(userData: nil, nonce: nil, publicKey: nil)) }
        let root: JSONNode
        do {
            root = try JSONParser.parse(body)
        } catch {
            return .failure(BadRequest(reason: "the body is not JSON: \(error.message) (\(error.location))"))
        }
        guard case .object(let members) = root.value else {
            return .failure(BadRequest(reason: "the body is a JSON \(root.value.typeName); expected an object with nonce, user_data, public_key"))
        }
        var decoded: [String: [UInt8]] = [:]
        for member in members {
            guard fields.contains(member.key) else {
                return .failure(BadRequest(reason: "unknown key \"\(member.key)\"; expected nonce, user_data, public_key"))
            }
            switch member.value.value {
            case .null: continue
            case .string(let text):
                let bytes: [UInt8]
                switch member.key == "public_key" ? publicKey(text) : base64(text) {
                case .success(let value): bytes = value
                case .failure(let problem): return .failure(BadRequest(reason: "\(member.key): \(problem.reason)"))
                }
                guard bytes.count <= NSMRequest.maximumFieldLength else {
                    return .failure(BadRequest(reason: "\(member.key) is \(bytes.count) bytes; the NSM takes at most \(NSMRequest.maximumFieldLength)"))
                }
                decoded[member.key] = bytes
            default:
                return .failure(BadRequest(reason: "\(member.key) is a JSON \(member.value.value.typeName); expected a base64 string"))
            }
        }
        return .success(.attestation(userData: decoded["user_data"], nonce: decoded["nonce"], publicKey: decoded["public_key"]))
    }

    /// Standard base64, or base64url; padding optional.
    static func base64(_ text: String) -> Result<[UInt8], BadRequest> {
        for options: Base64.DecodingOptions in [[.omitPaddingCharacter], [.base64UrlAlphabet, .omitPaddingCharacter]] {
            if let bytes = try? Base64.decode(string: text, options: options) { return .success(bytes) }
        }
        return .failure(BadRequest(reason: "not base64"))
    }

    /// A PEM block (its base64 body between the BEGIN and END lines), or base64 DER.
    static func publicKey(_ text: String) -> Result<[UInt8], BadRequest> {
        guard text.contains("-----BEGIN") else { return base64(text) }
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map { $0.trimmingCharacters() }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") && $0.hasSuffix("-----") }),
              let end = lines.lastIndex(where: { $0.hasPrefix("-----END ") && $0.hasSuffix("-----") }), end > begin else {
            return .failure(BadRequest(reason: "a PEM block needs its -----BEGIN and -----END lines"))
        }
        let body = lines[(begin + 1)..<end].filter { !$0.isEmpty && !$0.contains(":") }.joined()
        switch base64(body) {
        case .success(let der): return .success(der)
        case .failure: return .failure(BadRequest(reason: "the PEM body is not base64"))
        }
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
