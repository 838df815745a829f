/// What ties an attested ingress's TLS key to a document: the document's `user_data` is this
/// prefix followed by the SHA-256 of the certificate's SubjectPublicKeyInfo (DER), 56 bytes in
/// all. The prefix keeps it apart from any user_data an app asks for: the attestation endpoint
/// (NSM's NSMSource) refuses to put it in a document; `enclave-init verify https://` checks it.
public enum TLSBinding {
    public static let userDataPrefix = Array("enclave-init:tls:sha256:".utf8)

    public static func userData(publicKeySHA256 digest: [UInt8]) -> [UInt8] { userDataPrefix + digest }

    /// The digest a document's user_data names; nil when it is not a binding.
    public static func publicKeySHA256(inUserData userData: [UInt8]) -> [UInt8]? {
        guard userData.count == userDataPrefix.count + 32, userData.starts(with: userDataPrefix) else { return nil }
        return Array(userData.dropFirst(userDataPrefix.count))
    }
}
