import AttestedTLS
import DocumentReading
import Streams

/// An attested ingress's events as status events and console lines.
extension TLSIngressEvent: CustomStringConvertible {
    var statusEvent: StatusEvent {
        switch self {
        case .certificate(let ingress, let issued, let notAfter, let key, let certificate):
            return .tlsCertificate(ingress: ingress, source: issued ? "acme" : "self-signed", notAfter: UTCTime.format(notAfter),
                                   publicKeySHA256: key, certificateSHA256: certificate)
        case .acmeFailed(let ingress, let error, let retry):
            return .acmeFailed(ingress: ingress, error: error, retryInSeconds: retry)
        }
    }

    public var description: String {
        switch self {
        case .certificate(let ingress, let issued, let notAfter, let key, let certificate):
            return "ingress[\(ingress)] tls: serving a \(issued ? "CA-issued" : "self-signed") certificate until \(UTCTime.format(notAfter)); "
                + "public key sha256 \(key), certificate sha256 \(certificate)"
        case .acmeFailed(let ingress, let error, let retry):
            return "ingress[\(ingress)] tls: ACME failed: \(error); next try in \(retry) s"
        }
    }
}
