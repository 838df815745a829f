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
        checkEnclaveTCPListeners()
        checkVsockListeners()
        checkParentTCPListeners()
        checkNames()
        checkMounts()
        checkApp()
    }

    /// enclave-init listens on every hosts[] address:port and on 127.0.0.1:egress.port; the app
    /// listens on 127.0.0.1:ingress[].port. No two of them may be the same socket.
    private func checkEnclaveTCPListeners() {
        var claimed = Claims<String>()
        for (index, host) in config.hosts.enumerated() {
            claimed.claim("\(host.address):\(host.port)", by: entry("hosts", index) / "port",
                          what: "listener \(host.address):\(host.port)", issues: issues)
        }
        if let egress = config.egress {
            claimed.claim("127.0.0.1:\(egress.port)", by: JSONPath.root / "egress" / "port",
                          what: "listener 127.0.0.1:\(egress.port)", issues: issues)
        }
        if let attestation = config.attestation {
            claimed.claim("127.0.0.1:\(attestation.port)", by: JSONPath.root / "attestation" / "port",
                          what: "listener 127.0.0.1:\(attestation.port)", issues: issues)
        }
        if config.dns != nil {
            let stub = "\(DNSSettings.listenAddress):\(DNSSettings.listenPort)"
            claimed.claim(stub, by: JSONPath.root / "dns",
                          what: "the DNS stub's listener \(stub)", issues: issues,
                          hint: "the stub answers on 127.0.0.1:53 (what resolv.conf names); move the other listener")
        }
        for (index, ingress) in config.ingress.enumerated() {
            claimed.claim("127.0.0.1:\(ingress.port)", by: entry("ingress", index) / "port",
                          what: "the app's port 127.0.0.1:\(ingress.port)", issues: issues,
                          hint: "ingress connects to the app on this port, so enclave-init must not listen on it")
        }
        if case .tcp(let port)? = config.app.ready?.probe, let owner = claimed.owner(of: "127.0.0.1:\(port)"),
           !owner.description.hasPrefix("ingress") {
            issues.report(JSONPath.root / "app" / "ready" / "tcp",
                          "port \(port) is enclave-init's own listener (\(owner)), so it would report ready at once",
                          hint: "probe the port the app itself listens on")
        }
    }

    /// No vsock port twice on one side. Each side's listeners in the order they are reported:
    /// the second claimant of a port gets the error.
    private func checkVsockListeners() {
        var enclave: [(port: UInt32, path: JSONPath)] = config.ingress.enumerated().map { index, ingress in
            (ingress.vsockPort, entry("ingress", index) / "vsock_port")
        }
        if let control = config.control { enclave.append((control.vsockPort, JSONPath.root / "control" / "vsock_port")) }
        claimEach(enclave, side: "enclave")

        // The parent half listens on these; nitro-cli itself listens on the heartbeat port.
        var parent: [(port: UInt32, path: JSONPath)] = []
        if config.heartbeat.enabled != .off { parent.append((config.heartbeat.port, Self.heartbeatPort)) }
        parent += config.hosts.enumerated().map { index, host in (host.vsockPort, entry("hosts", index) / "vsock_port") }
        let sections: [(String, UInt32?)] = [("egress", config.egress?.vsockPort), ("logs", config.logs?.vsockPort),
                                             ("status", config.status?.vsockPort), ("dns", config.dns?.vsockPort),
                                             ("clock", config.clock?.vsockPort)]
        for case let (section, port?) in sections { parent.append((port, JSONPath.root / section / "vsock_port")) }
        claimEach(parent, side: "parent")
    }

    static let heartbeatPort = JSONPath.root / "heartbeat" / "port"

    private func claimEach(_ listeners: [(port: UInt32, path: JSONPath)], side: String) {
        var claims = Claims<UInt32>()
        for listener in listeners {
            // The heartbeat's port is taken even when the file never names it: say so.
            var hint: String?
            if claims.owner(of: listener.port) == Self.heartbeatPort {
                hint = "heartbeat.port is \(config.heartbeat.port)\(config.heartbeat.port == Heartbeat().port ? " by default" : ""): "
                    + "nitro-cli listens there for the enclave's heartbeat; pick another vsock port here"
            }
            claims.claim(listener.port, by: listener.path, what: "\(side) vsock port \(listener.port)", issues: issues, hint: hint)
        }
    }

    private func checkParentTCPListeners() {
        var parent = Claims<UInt16>()
        for (index, ingress) in config.ingress.enumerated() {
            parent.claim(ingress.hostPort, by: entry("ingress", index) / "host_port",
                         what: "parent TCP port \(ingress.hostPort)", issues: issues,
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
