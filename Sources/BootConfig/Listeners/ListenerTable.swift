import Addressing
import DocumentReading

/// Every socket the boot JSON makes something listen on, on either side, derived once from the
/// config, with what each is for (its section's settings) and where it dials: the port-clash
/// checks, `plan`, `check`, boot step 6 and `parent serve` all read this one list instead of
/// walking the sections again. A new service adds its case to its side's enum and its entry
/// here; the compiler then names every switch that must take it (each lists its own side's
/// services only).
///
/// The order is the order things start: the enclave's step 6 (relays: outbound, ingress (a TLS
/// one is enclave-init's own service, at its place among them), egress; then attestation, the KMS endpoint, the DNS stub, the UDP capture, the control
/// port), then the parent half's (nitro-cli's heartbeat listener first, which is there before
/// either, then the relays, the streams, dns, clock, KMS credentials).
public struct ListenerTable: Sendable {
    public enum Side: String, Sendable {
        case enclave, parent
    }

    /// Who has the socket open.
    public enum Owner: String, Sendable {
        case enclaveInit = "enclave-init"
        case app = "the app"
        case parentHalf = "enclave-init parent"
        case nitroCLI = "nitro-cli"
    }

    /// What a relay listener carries, on either side (an index is the entry's position in
    /// `hosts[]` or `ingress[]` as decoded).
    public enum Relay: Sendable, Equatable {
        /// Enclave: the alias the app dials; parent: the vsock port that dials the remote.
        case outbound(index: Int, HostMapping)
        /// Enclave: vsock from the parent; parent: the TCP port clients use.
        case ingress(index: Int, Ingress)
        case egress(Egress)
    }

    /// enclave-init's own services in the enclave, besides the relays.
    public enum EnclaveService: Sendable, Equatable {
        /// An ingress with `tls`: enclave-init terminates TLS on the vsock port and dials the app
        /// with the plain bytes (the parent's side of it is an ordinary ingress relay).
        case tlsIngress(index: Int, Ingress, IngressTLS)
        case attestation(AttestationSettings)
        /// The KMS endpoint for the app's SDK.
        case kmsProxy(KMSSettings)
        case dnsStub(DNSSettings)
        /// egress.udp: the datagrams read from the TUN device (an address of kind `.device`).
        case udpCapture(UDPEgress, Egress)
        case control(ControlSettings)
    }

    /// The parent half's services, besides the relays.
    public enum ParentService: Sendable, Equatable {
        case logs(LogStream)
        case status(StatusStream)
        case dns(DNSSettings)
        case clock(ClockSettings)
        /// The role's credentials for the enclave's KMS calls.
        case kmsCredentials(KMSSettings)
        /// The stream that carries the app's UDP datagrams (egress.udp).
        case udpEgress(UDPEgress, Egress)
    }

    public enum Purpose: Sendable, Equatable {
        case relay(Relay)
        case enclave(EnclaveService)
        case parent(ParentService)
        /// The app's own port that ingress[index] connects to.
        case appPort(ingress: Int)
        /// nitro-cli's heartbeat listener on the parent.
        case heartbeat

        /// A short name for tests and messages: "outbound[0]", "dns stub", "udp egress".
        public var name: String {
            switch self {
            case .relay(.outbound(let index, _)): return "outbound[\(index)]"
            case .relay(.ingress(let index, _)): return "ingress[\(index)]"
            case .relay(.egress): return "egress"
            case .enclave(.tlsIngress(let index, _, _)): return "ingress[\(index)] (tls)"
            case .enclave(.attestation): return "attestation"
            case .enclave(.kmsProxy): return "kms endpoint"
            case .enclave(.dnsStub): return "dns stub"
            case .enclave(.udpCapture): return "udp capture"
            case .enclave(.control): return "control"
            case .parent(.logs): return "logs"
            case .parent(.status): return "status"
            case .parent(.dns): return "dns"
            case .parent(.clock): return "clock"
            case .parent(.kmsCredentials): return "kms credentials"
            case .parent(.udpEgress): return "udp egress"
            case .appPort(let index): return "app port of ingress[\(index)]"
            case .heartbeat: return "heartbeat"
            }
        }
    }

    /// Where a listener's connections (or datagrams) go.
    public enum Dial: Sendable, Equatable {
        /// A fixed endpoint: the parent (vsock, parent_cid) from the enclave, the app from ingress.
        case endpoint(Endpoint)
        /// The enclave's vsock port: its CID is known only when the parent half runs.
        case enclave(vsockPort: UInt32)
        /// hosts[].remote, resolved per connection on the parent (nil: the entry has none).
        case remote(HostPort?)
        /// Each connection names its own destination, under the egress policy.
        case perConnection
    }

    public struct Entry: Sendable, Equatable, CustomStringConvertible {
        public var side: Side
        public var address: ListenAddress
        public var owner: Owner
        public var purpose: Purpose
        /// nil: nothing is dialled (the service answers itself, or the socket is not enclave-init's).
        public var dial: Dial?
        /// The field that sets the port (as the user wrote it): where a clash is reported.
        public var field: JSONPath

        public var description: String { "\(side) \(address) (\(owner), \(field))" }
    }

    public let entries: [Entry]

    /// `path(section, index)`: the JSON path of a list entry as the user wrote it (decoding may
    /// drop entries, so the decoded index can differ).
    public init(config: BootConfiguration, path: (String, Int) -> JSONPath = { JSONPath.root / $0 / $1 }) {
        var entries: [Entry] = []
        func add(_ side: Side, _ address: ListenAddress, _ owner: Owner, _ purpose: Purpose, _ field: JSONPath, dial: Dial? = nil) {
            entries.append(Entry(side: side, address: address, owner: owner, purpose: purpose, dial: dial, field: field))
        }
        func parent(_ port: UInt32) -> Dial { .endpoint(.vsock(cid: config.parentCID, port: port)) }
        let root = JSONPath.root
        // The enclave, in step 6's order.
        for (index, host) in config.hosts.enumerated() {
            add(.enclave, .tcp(host: host.address.description, port: host.port), .enclaveInit, .relay(.outbound(index: index, host)),
                path("hosts", index) / "port", dial: parent(host.vsockPort))
        }
        for (index, ingress) in config.ingress.enumerated() {
            let purpose: Purpose = ingress.tls.map { .enclave(.tlsIngress(index: index, ingress, $0)) } ?? .relay(.ingress(index: index, ingress))
            add(.enclave, .vsock(port: ingress.vsockPort), .enclaveInit, purpose, path("ingress", index) / "vsock_port",
                dial: .endpoint(.tcp(host: "127.0.0.1", port: ingress.port)))
            if !ingress.toAttestation { add(.enclave, .tcp(host: "127.0.0.1", port: ingress.port), .app, .appPort(ingress: index), path("ingress", index) / "port") }
        }
        if let egress = config.egress {
            add(.enclave, .tcp(host: "127.0.0.1", port: egress.port), .enclaveInit, .relay(.egress(egress)), root / "egress" / "port",
                dial: parent(egress.vsockPort))
        }
        if let attestation = config.attestation {
            add(.enclave, .tcp(host: "127.0.0.1", port: attestation.port), .enclaveInit, .enclave(.attestation(attestation)), root / "attestation" / "port")
        }
        if let kms = config.kms, let port = kms.proxyPort {
            add(.enclave, .tcp(host: "127.0.0.1", port: port), .enclaveInit, .enclave(.kmsProxy(kms)), root / "kms" / "proxy" / "port")
        }
        if let dns = config.dns {
            add(.enclave, .tcp(host: DNSSettings.listenAddress, port: DNSSettings.listenPort), .enclaveInit, .enclave(.dnsStub(dns)), root / "dns",
                dial: parent(dns.vsockPort))
        }
        if let egress = config.egress, let udp = egress.udp {
            add(.enclave, .device(name: UDPEgress.deviceName), .enclaveInit, .enclave(.udpCapture(udp, egress)), root / "egress" / "udp",
                dial: parent(udp.vsockPort))
        }
        if let control = config.control {
            add(.enclave, .vsock(port: control.vsockPort), .enclaveInit, .enclave(.control(control)), root / "control" / "vsock_port")
        }

        // The parent, in `parent serve`'s order; nitro-cli's heartbeat listener is there first.
        if config.heartbeat.enabled != .off { add(.parent, .vsock(port: config.heartbeat.port), .nitroCLI, .heartbeat, root / "heartbeat" / "port") }
        for (index, host) in config.hosts.enumerated() {
            add(.parent, .vsock(port: host.vsockPort), .parentHalf, .relay(.outbound(index: index, host)), path("hosts", index) / "vsock_port",
                dial: .remote(host.effectiveRemote))
        }
        if let egress = config.egress {
            add(.parent, .vsock(port: egress.vsockPort), .parentHalf, .relay(.egress(egress)), root / "egress" / "vsock_port", dial: .perConnection)
            if let udp = egress.udp {
                add(.parent, .vsock(port: udp.vsockPort), .parentHalf, .parent(.udpEgress(udp, egress)), root / "egress" / "udp", dial: .perConnection)
            }
        }
        for (index, ingress) in config.ingress.enumerated() {
            add(.parent, .tcp(host: "0.0.0.0", port: ingress.hostPort), .parentHalf, .relay(.ingress(index: index, ingress)),
                path("ingress", index) / "host_port", dial: .enclave(vsockPort: ingress.vsockPort))
        }
        if let logs = config.logs { add(.parent, .vsock(port: logs.vsockPort), .parentHalf, .parent(.logs(logs)), root / "logs" / "vsock_port") }
        if let status = config.status { add(.parent, .vsock(port: status.vsockPort), .parentHalf, .parent(.status(status)), root / "status" / "vsock_port") }
        if let dns = config.dns { add(.parent, .vsock(port: dns.vsockPort), .parentHalf, .parent(.dns(dns)), root / "dns" / "vsock_port", dial: .perConnection) }
        if let clock = config.clock { add(.parent, .vsock(port: clock.vsockPort), .parentHalf, .parent(.clock(clock)), root / "clock" / "vsock_port") }
        if let kms = config.kms {
            add(.parent, .vsock(port: kms.credentialsVsockPort), .parentHalf, .parent(.kmsCredentials(kms)), root / "kms" / "credentials" / "vsock_port")
        }
        self.entries = entries
    }

    /// The entries on one side, optionally only one owner's.
    public func on(_ side: Side, by owner: Owner? = nil) -> [Entry] {
        entries.filter { $0.side == side && (owner == nil || $0.owner == owner) }
    }

    /// The relays on one side, in start order.
    public func relays(on side: Side) -> [(entry: Entry, relay: Relay)] {
        on(side).compactMap { entry in if case .relay(let relay) = entry.purpose { (entry, relay) } else { nil } }
    }

    /// enclave-init's other services in the enclave, in start order.
    public var enclaveServices: [(entry: Entry, service: EnclaveService)] {
        entries.compactMap { entry in if case .enclave(let service) = entry.purpose { (entry, service) } else { nil } }
    }

    /// The parent half's other services, in start order.
    public var parentServices: [(entry: Entry, service: ParentService)] {
        entries.compactMap { entry in if case .parent(let service) = entry.purpose { (entry, service) } else { nil } }
    }

    /// Whether enclave-init listens on anything inside the enclave (boot step 6 runs only then).
    public var enclaveInitListens: Bool { !on(.enclave, by: .enclaveInit).isEmpty }
}
