import NSM

/// The enclave's Recipient key and the NSM that vouches for it: each document is asked for
/// fresh (KMS checks its age), carrying the key's public half.
public final class AttestedKey: Sendable {
    public let key: RecipientKey
    private let nsm: NSMDevice

    public init(nsm: NSMDevice) throws(KMSFailure) {
        do { key = try RecipientKey() } catch { throw .envelope(error) }
        self.nsm = nsm
    }

    public func document() throws(KMSFailure) -> [UInt8] {
        do {
            switch try nsm.callWaiting(.attestation(userData: nil, nonce: nil, publicKey: key.publicKeyDER)) {
            case .attestation(let document): return document
            case let other: throw KMSFailure.attestation("the NSM answered \(other) to an attestation request")
            }
        } catch let failure as KMSFailure {
            throw failure
        } catch {
            throw .attestation("\(error)")
        }
    }

}
