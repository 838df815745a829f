import DocumentReading
import Addressing

/// Checks that relate several fields: listeners that collide, vsock ports used twice on one
/// side, names that point at two addresses, mounts that no mapping carries, a missing command.
struct ConfigValidator {
    let config: BootConfiguration
    let issues: IssueCollector
    let allHostsDecoded: Bool
    let sourceIndices: [String: [Int]]
    /// False when a command comes from the command line, or for the parent half (which runs no app).
    let commandRequired: Bool

    /// The JSON path of entry `index` of a list section as the user wrote it.
    private func entry(_ section: String, _ index: Int) -> JSONPath {
        JSONPath.root / section / (sourceIndices[section]?[index] ?? index)
    }

    func validate() {
        let table = ListenerTable(config: config, path: entry)
        checkEnclaveTCPListeners(table)
        checkVsockListeners(table)
        checkParentTCPListeners(table)
        checkNames()
        checkMounts()
        checkApp()
        checkSecrets()
        checkKMSRoute()
        checkACMERoutes()
    }

    /// An ACME directory is reached the way the app's traffic would be, as KMS is: a hosts[]
    /// mapping of its name and port, or an egress proxy whose policy allows it.
    private func checkACMERoutes() {
        guard allHostsDecoded else { return }
        for (index, ingress) in config.ingress.enumerated() {
            guard case .acme(let acme)? = ingress.tls?.certificate,
                  case .failure(let unreachable) = config.outboundRoute(to: acme.directory.endpoint) else { continue }
            issues.report(entry("ingress", index) / "tls" / "acme" / "directory", unreachable.description, hint: unreachable.hint)
        }
    }

    /// With `kms`, something must carry kms.endpoint out the way the app's traffic would: a
    /// hosts[] mapping of its name and port, or an egress proxy whose policy allows it.
    private func checkKMSRoute() {
        guard let kms = config.kms, allHostsDecoded, case .failure(let unreachable) = config.outboundRoute(to: kms.endpoint) else { return }
        issues.report(JSONPath.root / "kms" / "endpoint", unreachable.description, hint: unreachable.hint)
    }

    /// enclave-init listens on every hosts[] address:port and on 127.0.0.1:egress.port; the app
    /// listens on 127.0.0.1:ingress[].port. No two of them may be the same socket. enclave-init's
    /// own listeners are claimed first, so a clash with an app port is reported at the ingress
    /// entry (ingress must not point at enclave-init; one with "attestation": true targets the
    /// attestation endpoint on purpose and is no app port).
    private func checkEnclaveTCPListeners(_ table: ListenerTable) {
        var claimed = Claims<String>()
        var appPorts: Set<String> = []
        let tcp = table.on(.enclave).filter { if case .tcp = $0.address { true } else { false } }
        for listener in tcp.filter({ $0.owner != .app }) + tcp.filter({ $0.owner == .app }) {
            guard case .tcp(let host, let port) = listener.address else { continue }
            let socket = "\(host):\(port)"
            // Two ingress entries may reach the same app port (plain and TLS, two host ports):
            // it is one listener of the app's.
            if case .appPort = listener.purpose, !appPorts.insert(socket).inserted { continue }
            switch listener.purpose {
            case .enclave(.dnsStub):
                claimed.claim(socket, by: listener.field, what: "the DNS stub's listener \(socket)", issues: issues,
                              hint: "the stub answers on 127.0.0.1:53 (what resolv.conf names); move the other listener")
            case .appPort:
                claimed.claim(socket, by: listener.field, what: "the app's port \(socket)", issues: issues,
                              hint: "ingress connects to the app on this port, so enclave-init must not listen on it")
            default:
                claimed.claim(socket, by: listener.field, what: "listener \(socket)", issues: issues)
            }
        }
        if case .tcp(let port)? = config.app.ready?.probe, let owner = claimed.owner(of: "127.0.0.1:\(port)"),
           !owner.description.hasPrefix("ingress") {
            issues.report(JSONPath.root / "app" / "ready" / "tcp",
                          "port \(port) is enclave-init's own listener (\(owner)), so it would report ready at once",
                          hint: "probe the port the app itself listens on")
        }
    }

    /// No vsock port twice on one side, in the order each side starts its listeners: the
    /// second claimant of a port gets the error.
    private func checkVsockListeners(_ table: ListenerTable) {
        for side in [ListenerTable.Side.enclave, .parent] {
            var claims = Claims<UInt32>()
            for listener in table.on(side) {
                guard case .vsock(let port) = listener.address else { continue }
                // The heartbeat's port is taken even when the file never names it: say so.
                var hint: String?
                if claims.owner(of: port) == Self.heartbeatPort {
                    hint = "heartbeat.port is \(config.heartbeat.port)\(config.heartbeat.port == Heartbeat().port ? " by default" : ""): "
                        + "nitro-cli listens there for the enclave's heartbeat; pick another vsock port here"
                } else if let egress = config.egress, egress.udp != nil, side == .parent,
                          listener.field == Self.udpField || claims.owner(of: port) == Self.udpField {
                    // The port nobody wrote: egress.udp takes the one after egress.vsock_port.
                    hint = "egress.udp's stream is on egress.vsock_port + 1 (\(egress.vsockPort + 1)) unless it says "
                        + "\"vsock_port\": give egress.udp a \"vsock_port\" of its own, or move the other port"
                }
                claims.claim(port, by: listener.field, what: "\(side) vsock port \(port)", issues: issues, hint: hint)
            }
        }
    }

    static let heartbeatPort = JSONPath.root / "heartbeat" / "port"
    static let udpField = JSONPath.root / "egress" / "udp"

    private func checkParentTCPListeners(_ table: ListenerTable) {
        var parent = Claims<UInt16>()
        for listener in table.on(.parent) {
            guard case .tcp(_, let port) = listener.address else { continue }
            parent.claim(port, by: listener.field, what: "parent TCP port \(port)", issues: issues,
                         hint: "set \"host_port\" to give each ingress its own port on the parent")
        }
    }

    /// /etc/hosts can map a name to one alias only.
    private func checkNames() {
        var owners: [String: (address: IPv4Address, path: JSONPath)] = [:]
        for (index, host) in config.hosts.enumerated() {
            for (nameIndex, name) in host.names.enumerated() {
                let path = entry("hosts", index) / "names" / nameIndex
                if let first = owners[name] {
                    let problem = first.address == host.address ? "is listed twice" : "already maps to \(first.address) at \(first.path)"
                    issues.report(path, "name \"\(name)\" \(problem)",
                                  hint: "a name resolves to one address; use one mapping per name")
                } else {
                    owners[name] = (host.address, path)
                }
            }
        }
    }

    private func checkMounts() {
        var targets: [String: Int] = [:]
        for (index, mount) in config.mounts.enumerated() {
            let path = entry("mounts", index)
            if allHostsDecoded, !config.hosts.contains(where: { $0.address == mount.server && $0.port == mount.port }) {
                issues.report(path / "server", "no hosts[] mapping serves \(mount.server):\(mount.port)",
                              hint: "add a hosts[] entry with \"address\": \"\(mount.server)\", \"port\": \(mount.port), or point the mount at an existing one")
            }
            if let first = targets[mount.target] {
                issues.report(path / "target", "target \(mount.target) is already used by \(entry("mounts", first))")
            } else {
                targets[mount.target] = index
            }
        }
    }

    private func checkApp() {
        let commandPath = JSONPath.root / "app" / "command"
        // A command that was there but unusable has its own message already.
        if config.app.command.isEmpty && commandRequired && !issues.issues.contains(where: { $0.path == commandPath }) {
            issues.report(JSONPath.root / "app" / "command", "no command to run",
                          hint: "set \"app\": {\"command\": [\"/path/to/app\", \"arg\"]}, or give one after `--` on the command line")
        }
    }
}

extension ConfigValidator {
    /// Secrets need kms, and kms something to do; no variable or file is given twice, and the
    /// proxy's variable is not the app's.
    fileprivate func checkSecrets() {
        // A kms section that was there but did not decode has its own errors already.
        let kmsWritten = issues.issues.contains { $0.path.description == "kms" || $0.path.description.hasPrefix("kms.") }
        if config.kms == nil, !config.secrets.isEmpty, !kmsWritten {
            issues.report(JSONPath.root / "secrets", "secrets need \"kms\": nothing would decrypt them",
                          hint: "add \"kms\": {\"region\": \"us-east-1\", \"credentials\": {\"vsock_port\": 8010}}")
        }
        if let kms = config.kms, config.secrets.isEmpty, kms.proxyPort == nil, !issues.issues.contains(where: { $0.path.description.hasPrefix("secrets") }) {
            issues.report(JSONPath.root / "kms", "kms is configured but nothing uses it",
                          hint: "add \"secrets\": [...] to decrypt at boot, or \"proxy\": {\"port\": 9999} for the app's SDK")
        }
        var variables = Claims<String>()
        for (key, _) in config.app.env { variables.claim(key, by: JSONPath.root / "app" / "env" / key, what: "", issues: issues) }
        if let url = config.kms?.proxyURL, let owner = variables.owner(of: "AWS_ENDPOINT_URL_KMS") {
            issues.report(owner, "AWS_ENDPOINT_URL_KMS is set by kms.proxy (to \(url))", hint: "remove it from app.env, or remove kms.proxy")
        }
        var files = Claims<String>()
        for (index, secret) in config.secrets.enumerated() {
            let path = entry("secrets", index)
            switch secret.destination {
            case .env(let name):
                if let owner = variables.owner(of: name) {
                    issues.report(path / "env", "environment variable \(name) is already set by \(owner)", hint: "give each variable one source")
                } else if name == "AWS_ENDPOINT_URL_KMS", config.kms?.proxyPort != nil {
                    issues.report(path / "env", "AWS_ENDPOINT_URL_KMS is set by kms.proxy", hint: "pick another variable name")
                } else {
                    variables.claim(name, by: path / "env", what: "", issues: issues)
                }
            case .file(let file, _):
                files.claim(file, by: path / "file", what: "secret file \(file)", issues: issues, hint: "give each file one secret")
            }
        }
    }
}

/// Who first claimed each key (a port, a socket), to report the second claimant.
private struct Claims<Key: Hashable> {
    private var owners: [Key: JSONPath] = [:]

    func owner(of key: Key) -> JSONPath? { owners[key] }

    mutating func claim(_ key: Key, by path: JSONPath, what: String, issues: IssueCollector, hint: String? = nil) {
        if let first = owners[key] {
            issues.report(path, at: nil, "\(what) is already used by \(first)", hint: hint)
        } else {
            owners[key] = path
        }
    }
}
