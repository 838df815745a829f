import Addressing
import DocumentReading

/// Every socket the boot JSON makes something listen on, on either side, derived once from the
/// config: the port-clash checks, `plan`, `check`, boot step 6 and `parent serve` all read this
/// one list instead of walking the sections again. A new service that listens adds its entry
/// here (and its purpose), and every one of them sees it.
///
/// The order is the order things start: the enclave's step 6 (relays: outbound, ingress,
/// egress; then attestation, the KMS endpoint, the DNS stub, the control port), then the parent half's (nitro-cli's
/// heartbeat listener first, which is there before either, then the relays, the streams, dns,
/// clock, KMS credentials).
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

    /// What it is for; an index is the entry's position in `hosts[]` or `ingress[]` as decoded.
    public enum Purpose: Sendable, Hashable {
        /// Enclave: the alias the app dials; parent: the vsock port that dials the remote.
        case outbound(host: Int)
        /// Enclave: vsock from the parent; parent: the TCP port clients use.
        case ingress(Int)
        /// The app's own port that ingress connects to.
        case appPort(ingress: Int)
        case egress, attestation, dnsStub, control, heartbeat, logs, status, dns, clock
        /// Enclave: the KMS endpoint for the app's SDK; parent: the role's credentials.
        case kmsProxy, kmsCredentials
        /// Parent: the stream that carries the app's UDP datagrams (egress.udp).
        case udpEgress
    }

    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        public var side: Side
        public var address: ListenAddress
        public var owner: Owner
        public var purpose: Purpose
        /// The field that sets the port (as the user wrote it): where a clash is reported.
        public var field: JSONPath

        public var description: String { "\(side) \(address) (\(owner), \(field))" }
    }

    public let entries: [Entry]

    /// `path(section, index)`: the JSON path of a list entry as the user wrote it (decoding may
    /// drop entries, so the decoded index can differ).
    public init(config: BootConfiguration, path: (String, Int) -> JSONPath = { JSONPath.root / $0 / $1 }) {
        var entries: [Entry] = []
        func add(_ side: Side, _ address: ListenAddress, _ owner: Owner, _ purpose: Purpose, _ field: JSONPath) {
            entries.append(Entry(side: side, address: address, owner: owner, purpose: purpose, field: field))
        }
        let root = JSONPath.root
        // The enclave, in step 6's order.
        for (index, host) in config.hosts.enumerated() {
            add(.enclave, .tcp(host: host.address.description, port: host.port), .enclaveInit, .outbound(host: index), path("hosts", index) / "port")
        }
        for (index, ingress) in config.ingress.enumerated() {
            add(.enclave, .vsock(port: ingress.vsockPort), .enclaveInit, .ingress(index), path("ingress", index) / "vsock_port")
            add(.enclave, .tcp(host: "127.0.0.1", port: ingress.port), .app, .appPort(ingress: index), path("ingress", index) / "port")
        }
        if let egress = config.egress { add(.enclave, .tcp(host: "127.0.0.1", port: egress.port), .enclaveInit, .egress, root / "egress" / "port") }
        if let attestation = config.attestation {
            add(.enclave, .tcp(host: "127.0.0.1", port: attestation.port), .enclaveInit, .attestation, root / "attestation" / "port")
        }
        if let port = config.kms?.proxyPort {
            add(.enclave, .tcp(host: "127.0.0.1", port: port), .enclaveInit, .kmsProxy, root / "kms" / "proxy" / "port")
        }
        if config.dns != nil {
            add(.enclave, .tcp(host: DNSSettings.listenAddress, port: DNSSettings.listenPort), .enclaveInit, .dnsStub, root / "dns")
        }
        if let control = config.control { add(.enclave, .vsock(port: control.vsockPort), .enclaveInit, .control, root / "control" / "vsock_port") }

        // The parent, in `parent serve`'s order; nitro-cli's heartbeat listener is there first.
        if config.heartbeat.enabled != .off { add(.parent, .vsock(port: config.heartbeat.port), .nitroCLI, .heartbeat, root / "heartbeat" / "port") }
        for (index, host) in config.hosts.enumerated() {
            add(.parent, .vsock(port: host.vsockPort), .parentHalf, .outbound(host: index), path("hosts", index) / "vsock_port")
        }
        if let egress = config.egress { add(.parent, .vsock(port: egress.vsockPort), .parentHalf, .egress, root / "egress" / "vsock_port") }
        if let udp = config.egress?.udp { add(.parent, .vsock(port: udp.vsockPort), .parentHalf, .udpEgress, root / "egress" / "udp") }
        for (index, ingress) in config.ingress.enumerated() {
            add(.parent, .tcp(host: "0.0.0.0", port: ingress.hostPort), .parentHalf, .ingress(index), path("ingress", index) / "host_port")
        }
        let streams: [(Purpose, String, UInt32?)] = [(.logs, "logs", config.logs?.vsockPort), (.status, "status", config.status?.vsockPort),
                                                     (.dns, "dns", config.dns?.vsockPort), (.clock, "clock", config.clock?.vsockPort)]
        for case let (purpose, section, port?) in streams { add(.parent, .vsock(port: port), .parentHalf, purpose, root / section / "vsock_port") }
        if let kms = config.kms {
            add(.parent, .vsock(port: kms.credentialsVsockPort), .parentHalf, .kmsCredentials, root / "kms" / "credentials" / "vsock_port")
        }
        self.entries = entries
    }

    /// The entries on one side, optionally only one owner's.
    public func on(_ side: Side, by owner: Owner? = nil) -> [Entry] {
        entries.filter { $0.side == side && (owner == nil || $0.owner == owner) }
    }

    /// Whether enclave-init listens on anything inside the enclave (boot step 6 runs only then).
    public var enclaveInitListens: Bool { !on(.enclave, by: .enclaveInit).isEmpty }
}
