import DocumentReading
import Addressing
import BootConfig
import NSM
import Policy

/// `plan`'s lines for an ingress with `tls` (step 6).
enum TLSPlan {
    static func lines(_ ingress: Ingress, _ tls: IngressTLS, listener: String,
                      route: (HostPort) -> Result<OutboundRoute, OutboundRoute.Unreachable>) -> [String] {
        var lines = ["ingress \(listener) -> TLS terminated by enclave-init -> tcp:127.0.0.1:\(ingress.port), parent listens on tcp port \(ingress.hostPort) "
                     + "(it carries ciphertext only)"]
        lines.append("  key: P-256, made at boot in enclave-init's memory (never written, never logged); TLS 1.3 and 1.2")
        let names = tls.names.joined(separator: ", ")
        switch tls.certificate {
        case .selfSigned:
            lines.append("  certificate: self-signed for \(names), \(IngressTLS.selfSignedDays) days")
        case .acme(let acme):
            let via: String
            switch route(acme.directory.endpoint) {
            case .success(let found): via = found.description
            case .failure(let unreachable): via = "nothing (\(unreachable))"
            }
            lines.append("  certificate: from the ACME CA \(acme.directory) via \(via) for \(names); TLS-ALPN-01 answered here; renewed when a third of its validity is left")
            lines.append("  until issued: " + (acme.untilIssued == .selfSigned ? "a self-signed certificate for the names" : "TLS handshakes are refused"))
        }
        lines.append("  ALPN for the app: " + (tls.alpn.isEmpty ? "none selected (clients speak their default)" : tls.alpn.joined(separator: ", ")))
        if tls.attestation {
            lines.append("  attestation: a client offering ALPN \(IngressTLS.attestationProtocol) gets POST \(AttestationEndpoint.path) {\"nonce\"} answered here, "
                         + "user_data = \"\(String(decoding: TLSBinding.userDataPrefix, as: UTF8.self))\" + SHA-256 of the certificate's public key")
        } else {
            lines.append("  attestation: off (tls.attestation false): nothing binds the certificate to this enclave")
        }
        if let file = tls.certificateFile { lines.append("  certificate chain for the app: \(file) (PEM; never the key)") }
        return lines
    }
}
