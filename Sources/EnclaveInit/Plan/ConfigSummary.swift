import BootConfig
import LinuxNet
import Policy

/// The one-screen summary `check` prints for a valid config.
enum ConfigSummary {
    /// What `check` and `plan` both say where the config is wider than it reads.
    static func warnings(for config: BootConfiguration) -> [String] {
        guard let egress = config.egress else { return [] }
        return EgressPolicy(egress).warnings(dnsStub: config.dns != nil, udp: egress.udp != nil)
    }

    static func lines(for config: BootConfiguration) -> [String] {
        var lines: [(String, String)] = []
        lines.append(("hostname", config.hostname ?? "(unchanged)"))
        lines.append(("parent", "CID \(config.parentCID), heartbeat \(config.heartbeat.enabled.rawValue) on port \(config.heartbeat.port)"))
        let addresses = LoopbackPlan.addresses(for: config)
        let names = HostsEntries.entries(for: config).reduce(0) { $0 + $1.names.count }
        lines.append(("network", "lo with \(addresses.count) address\(addresses.count == 1 ? "" : "es"), \(names) name\(names == 1 ? "" : "s") in \(config.network.hostsFile)"))
        lines.append(("outbound", config.hosts.isEmpty ? "none" : config.hosts.map { "\($0.names.first ?? $0.address.description) -> \($0.address):\($0.port)" }.joined(separator: ", ")))
        lines.append(("ingress", config.ingress.isEmpty ? "none" : config.ingress.map { "parent \($0.hostPort) -> app \($0.port)\($0.tls.map { $0.attestation ? " (TLS in the enclave, attested)" : " (TLS in the enclave)" } ?? "")" }.joined(separator: ", ")))
        lines.append(("egress", config.egress.map { "127.0.0.1:\($0.port), \($0.allow.count) allow and \($0.deny.count) deny rules\($0.transparent ? ", transparent" : "")\($0.udp.map { ", UDP through vsock port \($0.vsockPort)" } ?? "")" } ?? "none"))
        lines.append(("dns", config.dns.map { "stub on 127.0.0.1:53, parent on vsock port \($0.vsockPort), \(config.network.resolvConf) managed" } ?? "none"))
        lines.append(("attest", config.attestation.map { "http://127.0.0.1:\($0.port)/v1/attestation" } ?? "none"))
        lines.append(("mounts", config.mounts.isEmpty ? "none" : config.mounts.map { "\($0.server):\($0.export) on \($0.target)" }.joined(separator: ", ")))
        lines.append(("app", config.app.command.map(shellQuoted).joined(separator: " ") + " (restart \(config.app.restart.rawValue), "
                      + (config.appMayUseVsock ? "may use vsock)" : "no vsock)")))
        lines.append(("shutdown", "grace \(config.shutdown.graceSeconds) s"
                      + (config.control.map { ", or `stop` on vsock port \($0.vsockPort) (parent stop)" } ?? "")))
        lines.append(("clock", config.clock.map { "from the parent on vsock port \($0.vsockPort), every \($0.intervalSeconds) s" } ?? "the enclave's own"))
        if let kms = config.kms {
            lines.append(("kms", "https://\(kms.endpoint) (\(kms.region)) via \(KMSPlan.route(config)), credentials on vsock port \(kms.credentialsVsockPort)"
                          + (kms.proxyURL.map { ", SDK endpoint \($0)" } ?? "")))
            if !config.secrets.isEmpty {
                lines.append(("secrets", config.secrets.map(\.destination.description).joined(separator: ", ")))
            }
        }
        var streams: [String] = []
        if let logs = config.logs { streams.append("logs on vsock port \(logs.vsockPort)") }
        if let status = config.status { streams.append("status on vsock port \(status.vsockPort)") }
        lines.append(("streams", streams.isEmpty ? "console only" : streams.joined(separator: ", ")))
        let table = ListenerTable(config: config)
        func sockets(_ side: ListenerTable.Side) -> String {
            let listeners = table.on(side)
            return listeners.isEmpty ? "nothing" : listeners.map { "\($0.address)" }.joined(separator: " ")
        }
        lines.append(("listens", "enclave: \(sockets(.enclave))"))
        lines.append(("", "parent: \(sockets(.parent))"))
        for warning in warnings(for: config) { lines.append(("warning", warning)) }
        return lines.map { $0.0.padding(to: 10) + " " + $0.1 }
    }
}
