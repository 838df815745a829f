import Addressing
import BootConfig
import DocumentReading
import KMS
import LinuxNet
import NSM
import Relay

/// What `run` would do with a config, step by step, in boot order. Touches nothing.
struct BootPlan {
    let config: BootConfiguration
    /// The vsock emulation in force for this process, shown next to every vsock endpoint.
    let emulation: VsockEmulation?
    /// The boot JSON's exact bytes: the PCR value the boot will produce.
    var configBytes: [UInt8]? = nil

    func lines() -> [String] {
        var output: [String] = []
        for step in BootStep.allCases {
            let details = describe(step)
            guard let first = details.first else { continue }
            let title = step.rawValue.padding(to: 10)
            output.append("\(step.number). \(title) \(first)")
            output += details.dropFirst().map { String(repeating: " ", count: 14) + $0 }
        }
        return output
    }

    private func describe(_ step: BootStep) -> [String] {
        switch step {
        case .early:
            return ["before the Swift runtime starts: block the signals the supervisor handles (none is lost before it waits for them);",
                    "as PID 1 without /proc: mount /proc (the static runtime needs /proc/self/exe)"]
        case .config:
            return ["boot JSON version \(config.version): valid"]
        case .pid1Duties:
            let heartbeat: String
            switch config.heartbeat.enabled {
            case .off: heartbeat = "heartbeat: off"
            case .on: heartbeat = "heartbeat: on, to \(vsock(config.parentCID, config.heartbeat.port))"
            case .auto: heartbeat = "heartbeat: auto, to \(vsock(config.parentCID, config.heartbeat.port)) only as the enclave's own init (PID 1 of the initial PID namespace)"
            }
            var lines = ["only when PID 1: mount /proc /sys /dev /dev/pts /dev/shm /run /tmp where missing",
                         "only as the enclave's own init: load the modules /modules_load_order lists (a modular kernel's vsock and NSM drivers),",
                         "  then /nsm.ko when present (finit_module); no vsock afterwards stops the boot"]
            let pcr = config.measure.pcr
            if let bytes = configBytes {
                lines.append("measure: the boot JSON's \(bytes.count) bytes (SHA-384 \(Hex.string(ConfigMeasurement.digest(bytes)).prefix(16))…) extended into PCR\(pcr) and locked,")
                lines.append("  before the heartbeat, any service, secret or the app; a failure stops the boot (as the enclave's own init, or with the NSM emulated)")
                lines.append("  PCR\(pcr) will read \(Hex.string(ConfigMeasurement.expectedValue(of: bytes)))")
            } else {
                lines.append("measure: the boot JSON extended into PCR\(pcr) and locked before anything else")
            }
            let hardening = config.hardening
            let demands = [("rng_source", "the RNG is nsm-hwrng", hardening.rngSource), ("clock_source", "the clock source is kvm-clock", hardening.clockSource),
                           ("cmdline", "/proc/cmdline is the measured /cmdline", hardening.cmdline), ("debug_mode", "not debug mode (PCR0 not all zero)", hardening.debugMode)]
            lines.append("self-checks as the enclave's own init: " + demands.map { "\($0.1) (\($0.2 == .require ? "required" : "reported"))" }.joined(separator: "; "))
            lines += [heartbeat,
                         "entropy: when \(NSMDevice.configuredPath) exists, at least \(Entropy.wantedBytes) bytes of the NSM's GetRandom credited to the kernel's pool"]
            if let clock = config.clock {
                lines.append("clock: the parent's CLOCK_REALTIME from \(vsock(config.parentCID, clock.vsockPort)) before the app (an offset of 100 ms or more is stepped),")
                lines.append("  then every \(clock.intervalSeconds) s (slewed; stepped from 0.5 s; a step over \(clock.maxStepSeconds) s refused); each correction logged with its offset;")
                lines.append("  not as a container's init (PID 1 of a nested PID namespace): its clock is the host's")
            }
            return lines
        case .streams:
            var lines: [String] = []
            if let logs = config.logs { lines.append("logs -> \(vsock(config.parentCID, logs.vsockPort)), buffer \(logs.bufferBytes) bytes") }
            if let status = config.status { lines.append("status -> \(vsock(config.parentCID, status.vsockPort))") }
            return lines.isEmpty ? ["none (console only)"] : lines
        case .network:
            var lines = ["lo up; addresses: " + LoopbackPlan.addresses(for: config).map(\.description).joined(separator: " ")]
            if let hostname = config.hostname { lines.append("hostname: \(hostname)") }
            let entries = HostsEntries.entries(for: config)
            lines.append("\(config.network.hostsFile): managed block with \(entries.count) line\(entries.count == 1 ? "" : "s")")
            lines += entries.map { "  " + $0.description }
            if config.dns != nil { lines.append("\(config.network.resolvConf): managed block with nameserver 127.0.0.1 (the DNS stub)") }
            if let egress = config.egress, egress.transparent {
                let route = egress.udp == nil ? "route default dev lo src 127.0.0.1"
                    : "TUN device \(TunDevice.defaultName) (\(TunDevice.address)/32, mtu \(TunDevice.mtu)); route default dev \(TunDevice.defaultName) src \(TunDevice.address)"
                lines.append("capture: \(route); nat OUTPUT -p tcp ! -d 127.0.0.0/8 -j REDIRECT --to-ports \(egress.port)")
                lines.append("  every TCP connection the app opens outside 127.0.0.0/8 goes to the egress listener; IPv6 is not captured (no route: fails at once)")
                if egress.udp != nil {
                    lines.append("  UDP is captured too: every datagram the app sends outside 127.0.0.0/8 is read from \(TunDevice.defaultName) (the DNS stub on 127.0.0.1:53 is not)")
                } else {
                    lines.append("  UDP is not captured: datagrams outside 127.0.0.0/8 go nowhere (add \"udp\": true to egress to carry them)")
                }
            }
            return lines
        case .proxies:
            let table = ListenerTable(config: config)
            let lines = table.relays(on: .enclave).flatMap { describe($0.relay) } + table.enclaveServices.flatMap { describe($0.service) }
            return lines.isEmpty ? ["none"] : lines
        case .mounts:
            let lines = config.mounts.map { mount in
                let options = mount.options.isEmpty ? "" : ", options \(mount.options)"
                return "\(mount.kind.rawValue) \(mount.server):\(mount.export) on \(mount.target) (port \(mount.port)\(options), "
                    + "retry for \(mount.timeoutSeconds) s, \(mount.required ? "required" : "optional"))"
            }
            return lines.isEmpty ? ["none"] : lines
        case .secrets:
            guard let kms = config.kms, !config.secrets.isEmpty else { return ["none"] }
            var lines = ["an RSA-2048 key made in memory; an attestation document carrying it from \(NSMDevice.configuredPath);",
                         "  Decrypt with Recipient at https://\(kms.endpoint) (\(kms.region), TLS checked against \(kms.caFile)) via \(KMSPlan.route(config)),",
                         "  signed with the role's credentials from \(vsock(config.parentCID, kms.credentialsVsockPort))"]
            for (index, secret) in config.secrets.enumerated() {
                var text = "secrets[\(index)] -> \(secret.destination) from the \(secret.source)"
                if let key = secret.keyID { text += ", key \(key)" }
                if !secret.encryptionContext.isEmpty { text += ", context " + secret.encryptionContext.keys.sorted().joined(separator: ",") }
                text += secret.required ? " (required)" : " (optional)"
                lines.append(text)
            }
            return lines
        case .app:
            let app = config.app
            var lines = ["exec " + app.command.map(shellQuoted).joined(separator: " ")]
            if let workdir = app.workdir { lines.append("workdir \(workdir)") }
            if let user = app.user { lines.append("user \(user)") }
            if !app.env.isEmpty { lines.append("env " + app.env.map { "\($0.key)=\(shellQuoted($0.value))" }.joined(separator: " ")) }
            if let url = config.kms?.proxyURL { lines.append("env AWS_ENDPOINT_URL_KMS=\(url) (the KMS endpoint for the app's SDK)") }
            let secretVariables = config.secrets.compactMap { if case .env(let name) = $0.destination { name } else { nil } }
            if !secretVariables.isEmpty { lines.append("env " + secretVariables.map { "\($0)=(secret)" }.joined(separator: " ")) }
            if let egress = config.egress { lines.append("env http_proxy and https_proxy (and upper case) = http://127.0.0.1:\(egress.port); no_proxy = localhost and mapped names") }
            if config.appMayUseVsock {
                lines.append("vsock: the app may open AF_VSOCK sockets (app.allow_vsock \(config.app.allowVsock == true ? "true" : "unset, no egress policy"))")
            } else {
                lines.append("vsock: refused to the app and its descendants (seccomp filter, no_new_privs: socket(AF_VSOCK) fails with EACCES)")
            }
            if let ready = app.ready {
                switch ready.probe {
                case .tcp(let port): lines.append("ready when tcp:127.0.0.1:\(port) accepts (within \(ready.timeoutSeconds) s)")
                case .file(let path): lines.append("ready when \(path) exists (within \(ready.timeoutSeconds) s)")
                }
            }
            return lines
        case .supervise:
            let restart = config.app.restart == .no ? "restart: no" : "restart: \(config.app.restart.rawValue), at most \(config.app.restartLimit) times"
            return ["forward signals to the app's process group, reap every child; \(restart)",
                    "shutdown on the app's exit, SIGTERM, SIGINT" + (config.control == nil ? "" : " or `stop` on the control port"),
                    "shutdown: SIGTERM to the app's process group, wait up to \(config.shutdown.graceSeconds) s, SIGKILL the rest, "
                        + (config.mounts.isEmpty ? "stop the proxies and listeners," : "sync and unmount the NFS mounts (their proxies still running), then stop the proxies and listeners,"),
                    "then exit with the app's status (as PID 1: power off)"]
        }
    }

    /// Step 6's line(s) for one relay in the enclave.
    private func describe(_ relay: ListenerTable.Relay) -> [String] {
        switch relay {
        case .outbound(_, let host):
            let remote = host.effectiveRemote.map { ", parent dials \($0)" } ?? ""
            let limit = host.maxConnections > 0 ? ", at most \(host.maxConnections) connections" : ""
            return ["outbound tcp:\(host.address):\(host.port) -> \(vsock(config.parentCID, host.vsockPort))\(remote)\(limit)"]
        case .ingress(_, let ingress):
            let target = ingress.toAttestation ? " (the attestation endpoint, for verify --endpoint)" : ""
            return ["ingress \(vsockListener(ingress.vsockPort)) -> tcp:127.0.0.1:\(ingress.port)\(target), parent listens on tcp port \(ingress.hostPort)"]
        case .egress(let egress):
            var lines = ["egress HTTP CONNECT proxy\(egress.transparent ? " and transparent capture" : "") tcp:127.0.0.1:\(egress.port) -> \(vsock(config.parentCID, egress.vsockPort))"]
            lines.append("  allow: " + (egress.allow.isEmpty ? "(nothing: every destination is denied)" : egress.allow.map(\.text).joined(separator: " ")))
            if !egress.deny.isEmpty { lines.append("  deny: " + egress.deny.map(\.text).joined(separator: " ")) }
            return lines
        }
    }

    /// Step 6's line(s) for one of enclave-init's other services in the enclave.
    private func describe(_ service: ListenerTable.EnclaveService) -> [String] {
        switch service {
        case .tlsIngress(_, let ingress, let tls):
            return TLSPlan.lines(ingress, tls, listener: vsockListener(ingress.vsockPort), route: { config.outboundRoute(to: $0) })
        case .attestation(let attestation):
            return ["attestation http://127.0.0.1:\(attestation.port)\(AttestationEndpoint.path) -> \(NSMDevice.configuredPath) (POST nonce, user_data, public_key; 200 application/cbor)"]
        case .kmsProxy(let kms):
            guard let url = kms.proxyURL else { return [] }
            return ["kms endpoint \(url) (AWS_ENDPOINT_URL_KMS) -> https://\(kms.endpoint) via \(KMSPlan.route(config)): re-signed with the role's credentials;",
                    "  Recipient added to " + RecipientOperation.allCases.map(\.rawValue).joined(separator: ", ") + " and the answer unwrapped"]
        case .dnsStub(let dns):
            let mapped = config.hosts.flatMap(\.names).count
            return ["dns stub udp+tcp:127.0.0.1:53 -> \(vsock(config.parentCID, dns.vsockPort)) (DNS over TCP), parent asks its resolvers",
                    "  answered here: \(mapped) mapped name\(mapped == 1 ? "" : "s") (A: the alias; no AAAA)"
                        + (config.egress == nil ? "" : "; names the egress policy cannot allow: REFUSED, never sent to the parent")]
        case .udpCapture(let udp, _):
            return ["udp capture dev \(TunDevice.defaultName) -> \(vsock(config.parentCID, udp.vsockPort)): each new flow (app port, destination address and port) "
                    + "checked by the egress policy, refused with ICMP port unreachable; at most \(udp.maxFlows) flows (the one idle longest gives way), "
                    + "idle \(udp.idleSeconds) s"]
        case .control(let control):
            return ["control \(vsockListener(control.vsockPort)): `stop` from the parent (enclave-init parent stop) shuts down as SIGTERM does"]
        }
    }

    private func vsock(_ cid: UInt32, _ port: UInt32) -> String {
        let endpoint = Endpoint.vsock(cid: cid, port: port)
        guard let emulation else { return endpoint.description }
        return "\(endpoint) (emulated: \(emulation.emulate(connectingTo: endpoint)))"
    }

    private func vsockListener(_ port: UInt32) -> String {
        guard let emulation else { return "vsock:any:\(port)" }
        return "vsock:any:\(port) (emulated: unix:\(emulation.listenPath(port: port)))"
    }
}

/// A word as a shell would need it written, so that `plan` output can be pasted.
func shellQuoted(_ word: String) -> String {
    let safe = word.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_./=:,+@%".unicodeScalars.contains($0)) }
    if safe && !word.isEmpty { return word }
    return "'" + word.replacing("'", with: "'\\''") + "'"
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

enum KMSPlan {
    static func route(_ config: BootConfiguration) -> String {
        switch KMSRoute.toKMS(config) {
        case .success(let route)?: return route.description
        case .failure(let unreachable)?: return "nothing (\(unreachable))"
        case nil: return "nothing"
        }
    }
}
