import Control
import Services

/// What step 6 started: the relays (outbound mappings, ingress, egress), the attestation
/// endpoint, the DNS stub and the control port. They live until the app is done for good, or
/// until a later step fails; the control port lives on until enclave-init ends (it tells a
/// waiting `parent stop` the exit code), so `stop()` leaves it to `ControlServer.finish`.
struct Listeners {
    let running: RunningServices
    let control: ControlServer?

    /// For `proxies_listening`: each address listened on (a relay listener, the stub as one).
    var count: Int { running.listening.count }

    /// The step's console line: "3 listening: kms tcp:127.0.0.2:443 -> vsock:3:8000, …, dns stub 127.0.0.1:53 (udp, tcp)".
    var summary: String {
        let names = running.listening.map(\.withEmulation)
        return "\(count) listening" + (names.isEmpty ? "" : ": " + names.joined(separator: ", "))
    }

    func stop() { running.stop(except: control) }
}
