import Control
import DNS
import NSM
import Relay

/// What step 6 started: the relays (outbound mappings, ingress, egress), the DNS stub, the
/// attestation endpoint and the control port. They live until the app is done for good, or
/// until a later step fails; the control port lives on until enclave-init ends (it tells a
/// waiting `parent stop` the exit code), so `stop()` leaves it to `ControlServer.finish`.
struct Listeners {
    var relays: RelayService?
    var dns: DNSStub?
    var attestation: AttestationEndpoint?
    var control: ControlServer?

    /// For `proxies_listening`: each relay listener, and the stub as one.
    var count: Int { (relays?.listeners.count ?? 0) + (dns == nil ? 0 : 1) + (attestation == nil ? 0 : 1) + (control == nil ? 0 : 1) }

    /// The step's console line: "3 listening: kms tcp:127.0.0.2:443 -> vsock:3:8000, …, dns 127.0.0.1:53 (udp, tcp)".
    var summary: String {
        var names = relays?.listeners.map { "\($0.route)" } ?? []
        if dns != nil { names.append("dns stub 127.0.0.1:53 (udp, tcp)") }
        if let port = attestation?.boundPort { names.append("attestation http://127.0.0.1:\(port)\(AttestationEndpoint.path)") }
        if let control { names.append(control.description) }
        return "\(count) listening" + (names.isEmpty ? "" : ": " + names.joined(separator: ", "))
    }

    func stop() {
        attestation?.stop()
        dns?.stop()
        relays?.stop()
    }
}
