/// Why a KMS call (or getting ready for one) failed: each names the cause a user can act on.
/// None of them carries a plaintext, a private key or a secret access key.
public enum KMSFailure: Error, Equatable, CustomStringConvertible {
    /// The parent half gave no credentials (its reason).
    case noCredentials(String)
    /// Nothing answered on the parent's credentials port (it may not be up yet).
    case parentNotListening(String)
    /// The NSM could not make the attestation document.
    case attestation(String)
    /// KMS (or the path to it) could not be connected to.
    case unreachable(String)
    /// The TLS handshake failed; a certificate that does not chain to ca_file is this.
    case tls(String)
    /// No complete or well-formed HTTP answer.
    case protocolError(String)
    /// KMS answered with an error: its `__type` and message, as it sent them.
    case kms(status: Int, type: String, message: String)
    /// KMS's answer was not what the operation returns.
    case malformedResponse(String)
    case envelope(RecipientKey.Failure)
    /// A request head could not be written: a field (named, never its value) has a CR, LF or
    /// other byte an HTTP head cannot carry.
    case unsafeRequest(String)

    public var description: String {
        switch self {
        case .noCredentials(let reason), .parentNotListening(let reason): return "no credentials from the parent: \(reason)"
        case .attestation(let reason): return "no attestation document: \(reason)"
        case .unreachable(let reason): return "cannot reach KMS: \(reason)"
        case .tls(let reason): return "TLS to KMS failed: \(reason)"
        case .protocolError(let reason): return "KMS's answer is not HTTP: \(reason)"
        case .kms(let status, let type, let message): return "KMS refused (\(status) \(type)): \(message)"
        case .malformedResponse(let reason): return "KMS's answer is malformed: \(reason)"
        case .envelope(let failure): return failure.description
        case .unsafeRequest(let reason): return "the request was not sent: \(reason)"
        }
    }
}
