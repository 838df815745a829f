import DocumentReading
import ExtrasBase64

/// KMS's Recipient: the operations that take it, the field their plaintext comes back in, and
/// the JSON rewrites on either side (the request gains Recipient; the answer's
/// CiphertextForRecipient becomes the plaintext field, as KMS answers without Recipient).
public enum RecipientOperation: String, Sendable, CaseIterable {
    case decrypt = "Decrypt"
    case generateDataKey = "GenerateDataKey"
    case generateDataKeyPair = "GenerateDataKeyPair"
    case generateRandom = "GenerateRandom"
    case deriveSharedSecret = "DeriveSharedSecret"

    /// Where KMS puts the plaintext when there is no Recipient.
    public var plaintextField: String {
        switch self {
        case .decrypt, .generateDataKey, .generateRandom: return "Plaintext"
        case .generateDataKeyPair: return "PrivateKeyPlaintext"
        case .deriveSharedSecret: return "SharedSecret"
        }
    }

    public static let keyEncryptionAlgorithm = "RSAES_OAEP_SHA_256"

    /// `body` (a JSON object) with Recipient added; nil when the caller gave its own Recipient
    /// (an app that unwraps for itself gets KMS's answer untouched).
    public static func addingRecipient(document: [UInt8], to body: [UInt8]) throws(KMSFailure) -> [UInt8]? {
        let members = try object(body, what: "the request")
        if members.contains(where: { $0.key == "Recipient" }) { return nil }
        return Array(JSONOutput.object(members.map { ($0.key, JSONOutput($0.value)) } + [("Recipient", recipient(document: document))])
            .rendered(pretty: false).utf8)
    }

    /// The Recipient member: the document of the enclave's key, and how KMS is to seal for it.
    public static func recipient(document: [UInt8]) -> JSONOutput {
        .object([("KeyEncryptionAlgorithm", .string(keyEncryptionAlgorithm)),
                 ("AttestationDocument", .string(Base64.encodeToString(bytes: document)))])
    }

    /// The plaintext sealed in the answer's CiphertextForRecipient.
    public func openEnvelope(in members: [JSONMember], with key: RecipientKey) throws(KMSFailure) -> SecretBytes {
        guard let envelopeMember = members.first(where: { $0.key == "CiphertextForRecipient" }),
              case .string(let envelopeText) = envelopeMember.value.value else {
            throw .malformedResponse("\(rawValue) answered without CiphertextForRecipient")
        }
        guard let envelope = try? Base64.decode(string: envelopeText) else { throw .malformedResponse("CiphertextForRecipient is not base64") }
        do { return try key.unwrap(envelope) } catch { throw .envelope(error) }
    }

    /// KMS's answer with CiphertextForRecipient unwrapped into the plaintext field.
    public func unwrapping(_ body: [UInt8], with key: RecipientKey) throws(KMSFailure) -> [UInt8] {
        let members = try Self.object(body, what: "KMS's answer")
        let plaintext = try openEnvelope(in: members, with: key)
        var out: [(String, JSONOutput)] = []
        var placed = false
        for member in members where member.key != "CiphertextForRecipient" {
            if member.key == plaintextField {
                out.append((member.key, .string(Base64.encodeToString(bytes: plaintext.bytes))))
                placed = true
            } else {
                out.append((member.key, JSONOutput(member.value)))
            }
        }
        if !placed { out.append((plaintextField, .string(Base64.encodeToString(bytes: plaintext.bytes)))) }
        return Array(JSONOutput.object(out).rendered(pretty: false).utf8)
    }

    static func object(_ body: [UInt8], what: String) throws(KMSFailure) -> [JSONMember] {
        guard let root = try? JSONParser.parse(body), case .object(let members) = root.value else {
            throw .malformedResponse("\(what) is not a JSON object")
        }
        return members
    }
}
