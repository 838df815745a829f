import Addressing
import DocumentReading
import Policy

/// Reads a parsed boot JSON into a BootConfiguration, field by field, reporting every type,
/// range and syntax problem with its path. Checks that relate several fields live in
/// ConfigValidator.
struct ConfigDecoder {
    let issues: IssueCollector
    /// False when some hosts[] entry was unusable: checks that look for a serving mapping would
    /// then report errors that are only echoes of the first one.
    var allHostsDecoded: Bool { !incompleteSections.contains("hosts") }
    private var incompleteSections: Set<String> = []
    /// For each list section, the JSON index of every entry that made it into the config
    /// (entries with errors are left out, so model and JSON indices can differ).
    private(set) var sourceIndices: [String: [Int]] = [:]

    init(issues: IssueCollector) {
        self.issues = issues
    }

    static let topLevelKeys = ["version", "hostname", "parent_cid", "heartbeat", "network", "hosts", "ingress",
                               "egress", "mounts", "app", "shutdown", "logs", "status", "dns", "attestation",
                               "control", "clock", "kms", "secrets", "measure", "hardening"]

    mutating func decode(_ root: JSONNode) -> BootConfiguration {
        var config = BootConfiguration()
        let document = Field(node: root, path: .root, issues: issues)
        guard let object = document.object(known: Self.topLevelKeys) else { return config }

        if let field = object.required("version", hint: "add \"version\": 1 at the top of the file") {
            if let version = field.integer(Int64.min...Int64.max, noun: "version") {
                if version != Int64(BootConfiguration.supportedVersion) {
                    issues.report(field, "unsupported version \(version)", hint: "this enclave-init reads version 1")
                }
            }
        }
        if let field = object["hostname"], let name = field.string() {
            if let problem = Hostname.problem(with: name) {
                issues.report(field, "hostname \"\(name)\" \(problem)")
            } else if name.utf8.count > 64 {
                issues.report(field, "hostname \"\(name)\" is longer than 64 characters, the kernel's limit")
            } else {
                config.hostname = name
            }
        }
        if let field = object["parent_cid"], let cid = field.integer(VsockLimits.cids, noun: "CID",
                                                                        hint: "the parent instance is CID 3 on Nitro") {
            config.parentCID = UInt32(cid)
        }
        if let field = object["heartbeat"] { config.heartbeat = heartbeat(field) ?? config.heartbeat }
        if let field = object["network"] { config.network = network(field) ?? config.network }
        if let field = object["hosts"] {
            config.hosts = list(field, section: "hosts", hostMapping)
        }
        // Before ingress, which may target the endpoint ("attestation": true).
        if let field = object["attestation"], let fields = field.object(known: ["port"]) {
            if let port = fields.required("port", hint: "the endpoint listens on 127.0.0.1:port, e.g. 7777")?.port() {
                config.attestation = AttestationSettings(port: port)
            }
        }
        if let field = object["ingress"] {
            let decoder = self, attestationPort = config.attestation?.port
            config.ingress = list(field, section: "ingress") { decoder.ingress($0, attestationPort: attestationPort) }
        }
        if let field = object["egress"] { config.egress = egress(field) }
        if let field = object["mounts"] {
            // A copy of the decoder for the closure (`list` mutates this one); it reports to the same collector.
            let hosts = config.hosts, decoder = self
            config.mounts = list(field, section: "mounts") { decoder.mount($0, hosts: hosts) }
        }
        if let field = object["app"] { config.app = app(field) ?? config.app }
        if let field = object["shutdown"], let fields = field.object(known: ["grace_seconds"]) {
            if let grace = fields["grace_seconds"]?.integer(0...3600, noun: "grace period") { config.shutdown.graceSeconds = Int(grace) }
        }
        if let field = object["logs"], let fields = field.object(known: ["vsock_port", "buffer_bytes"]) {
            let port = fields.required("vsock_port")?.vsockPort()
            let buffer = fields["buffer_bytes"].map { $0.integer(4096...1 << 30, noun: "buffer size") }
            if let port {
                var logs = LogStream(vsockPort: port)
                if let bytes = buffer ?? nil { logs.bufferBytes = Int(bytes) }
                config.logs = logs
            }
        }
        if let field = object["dns"], let fields = field.object(known: ["vsock_port"]) {
            if let port = fields.required("vsock_port", hint: "the parent half answers DNS on this vsock port, e.g. 8053")?.vsockPort() {
                config.dns = DNSSettings(vsockPort: port)
            }
        }
        if let field = object["control"], let fields = field.object(known: ["vsock_port"]) {
            if let port = fields.required("vsock_port", hint: "enclave-init listens on this vsock port for `stop`, e.g. 9102")?.vsockPort() {
                config.control = ControlSettings(vsockPort: port)
            }
        }
        if let field = object["hardening"], let fields = field.object(known: Hardening.keys) {
            func demand(_ key: String) -> Hardening.Demand? {
                guard let value = fields[key], let text = value.string() else { return nil }
                guard let demand = Hardening.Demand(rawValue: text) else {
                    issues.report(value, "\(key) \"\(text.prefix(30))\" is not a choice", hint: "\"report\" (the default) or \"require\" (a failed check stops the boot)")
                    return nil
                }
                return demand
            }
            if let value = demand("rng_source") { config.hardening.rngSource = value }
            if let value = demand("clock_source") { config.hardening.clockSource = value }
            if let value = demand("cmdline") { config.hardening.cmdline = value }
            if let value = demand("debug_mode") { config.hardening.debugMode = value }
        }
        if let field = object["measure"], let fields = field.object(known: ["pcr"]),
           let pcr = fields.required("pcr", hint: "the PCR the boot JSON is extended into, 16-31 (16 by default)")?
               .integer(Int64(Measure.pcrRange.lowerBound)...Int64(Measure.pcrRange.upperBound), noun: "PCR",
                        hint: "PCRs 0-15 are the platform's; an enclave extends 16-31") {
            config.measure.pcr = Int(pcr)
        }
        if let field = object["clock"], let fields = field.object(known: ["vsock_port", "interval_seconds", "max_step_seconds"]) {
            let port = fields.required("vsock_port", hint: "the parent half serves its clock on this vsock port, e.g. 9103")?.vsockPort()
            let interval = fields["interval_seconds"].map { $0.integer(ClockSettings.intervalRange, noun: "clock interval") }
            let maxStep = fields["max_step_seconds"].map { $0.integer(ClockSettings.maxStepRange, noun: "largest clock step") }
            if let port {
                var clock = ClockSettings(vsockPort: port)
                if let seconds = interval ?? nil { clock.intervalSeconds = Int(seconds) }
                if let seconds = maxStep ?? nil { clock.maxStepSeconds = Int(seconds) }
                config.clock = clock
            }
        }
        if let field = object["kms"] { config.kms = kms(field) }
        if let field = object["secrets"] {
            let decoder = self
            config.secrets = list(field, section: "secrets") { decoder.secret($0) }
        }
        if let field = object["status"], let fields = field.object(known: ["vsock_port"]) {
            if let port = fields.required("vsock_port")?.vsockPort() { config.status = StatusStream(vsockPort: port) }
        }
        return config
    }

    /// Decodes every element of a list section, remembering the JSON index of those kept.
    mutating func list<T>(_ field: Field, section: String, _ decode: (Field) -> T?) -> [T] {
        guard let elements = field.array() else {
            incompleteSections.insert(section)
            return []
        }
        var values: [T] = []
        var indices: [Int] = []
        for (index, element) in elements.enumerated() {
            if let value = decode(element) {
                values.append(value)
                indices.append(index)
            }
        }
        sourceIndices[section] = indices
        if indices.count != elements.count { incompleteSections.insert(section) }
        return values
    }

    // MARK: - Sections

    private func heartbeat(_ field: Field) -> Heartbeat? {
        guard let fields = field.object(known: ["enabled", "port"]) else { return nil }
        var heartbeat = Heartbeat()
        if let enabled = fields["enabled"] {
            switch enabled.value {
            case .bool(let on): heartbeat.enabled = on ? .on : .off
            case .string("auto"): heartbeat.enabled = .auto
            default: enabled.typeMismatch("true, false or \"auto\"")
            }
        }
        if let port = fields["port"]?.vsockPort() { heartbeat.port = port }
        return heartbeat
    }

    private func network(_ field: Field) -> Network? {
        guard let fields = field.object(known: ["loopback", "hosts_file", "resolv_conf"]) else { return nil }
        var network = Network()
        if let elements = fields["loopback"]?.array() {
            network.loopback = elements.compactMap { element in
                guard let text = element.string() else { return nil }
                guard let interface = IPv4Interface(text, defaultPrefix: 32) else {
                    issues.report(element, "\"\(text)\" is not an IPv4 address with an optional prefix",
                                  hint: "write it like \"127.0.0.1/8\" or \"127.0.0.5\"")
                    return nil
                }
                guard interface.address.isLoopback else {
                    issues.report(element, "address \(interface.address) is outside 127.0.0.0/8",
                                  hint: "an enclave has only the loopback interface; use an address in 127.0.0.0/8")
                    return nil
                }
                return interface
            }
        }
        if let path = fields["hosts_file"], let text = path.nonEmptyString() {
            if let problem = pathProblem(text) { issues.report(path, problem) } else { network.hostsFile = text }
        }
        if let path = fields["resolv_conf"], let text = path.nonEmptyString() {
            if let problem = pathProblem(text) { issues.report(path, problem) } else { network.resolvConf = text }
        }
        return network
    }

    private func hostMapping(_ field: Field) -> HostMapping? {
        let known = ["names", "address", "port", "vsock_port", "remote", "connect_timeout_ms", "max_connections"]
        guard let fields = field.object(known: known) else { return nil }
        let before = issues.count
        var names: [String] = []
        if let namesField = fields["names"], let elements = namesField.array() {
            for element in elements {
                guard let name = element.string() else { continue }
                if let problem = Hostname.problem(with: name) {
                    issues.report(element, "host name \"\(name)\" \(problem)")
                } else {
                    names.append(HostGrammar.canonical(name))
                }
            }
        }
        let address = fields.required("address", hint: "an alias in 127.0.0.0/8 such as \"127.0.0.2\"").flatMap(loopbackAddress)
        let port = fields.required("port").flatMap { $0.port() }
        let vsockPort = fields.required("vsock_port", hint: "the parent half listens on this vsock port").flatMap { $0.vsockPort() }
        let remote = fields["remote"].flatMap(remoteHostPort)
        let timeout = fields["connect_timeout_ms"].map { $0.integer(1...600_000, noun: "connect timeout") }
        let maxConnections = fields["max_connections"].map { $0.integer(0...1_000_000, noun: "connection limit",
                                                                          hint: "0 means no limit") }
        let namesGiven: Bool
        if case .array(let elements)? = fields["names"]?.value { namesGiven = !elements.isEmpty } else { namesGiven = fields["names"] != nil }
        if fields["remote"] == nil && !namesGiven {
            issues.report(field.path / "remote", at: field.node.location, "no remote and no names: the parent half has nothing to dial",
                          hint: "add \"names\": [\"host.example\"] or \"remote\": \"host.example:443\"")
        }
        guard issues.count == before, let address, let port, let vsockPort else { return nil }
        // Defaults come from the model (BootConfig.swift); only what the file gives replaces them.
        var mapping = HostMapping(names: names, address: address, port: port, vsockPort: vsockPort, remote: remote)
        if let milliseconds = timeout ?? nil { mapping.connectTimeoutMilliseconds = Int(milliseconds) }
        if let limit = maxConnections ?? nil { mapping.maxConnections = Int(limit) }
        return mapping
    }

    private func ingress(_ field: Field, attestationPort: UInt16?) -> Ingress? {
        guard let fields = field.object(known: ["vsock_port", "port", "host_port", "attestation", "tls"]) else { return nil }
        let before = issues.count
        let vsockPort = fields.required("vsock_port").flatMap { $0.vsockPort() }
        let toAttestation = (fields["attestation"].map { $0.bool() } ?? nil) ?? false
        var port: UInt16?
        if toAttestation {
            if let given = fields["port"] {
                issues.report(given, "give either port (the app's) or \"attestation\": true (enclave-init's attestation endpoint), not both")
            } else if let attestationPort {
                port = attestationPort
            } else if let flag = fields["attestation"] {
                issues.report(flag, "\"attestation\": true needs the attestation endpoint", hint: "add \"attestation\": {\"port\": 7777}")
            }
        } else {
            port = fields.required("port", hint: "the app's TCP port inside the enclave (or \"attestation\": true for the attestation endpoint)")
                .flatMap { $0.port() }
        }
        let hostPort = fields["host_port"].map { $0.port() }
        var tls: IngressTLS?
        if let tlsField = fields["tls"] {
            if toAttestation {
                issues.report(tlsField, "the attestation endpoint takes no TLS of its own",
                              hint: "put \"tls\" on the app's ingress: a client gets the document over that TLS (ALPN \(IngressTLS.attestationProtocol))")
            } else {
                tls = ingressTLS(tlsField)
            }
        }
        guard issues.count == before, let vsockPort, let port else { return nil }
        var ingress = Ingress(vsockPort: vsockPort, port: port, hostPort: (hostPort ?? nil) ?? port, toAttestation: toAttestation)
        ingress.tls = tls
        return ingress
    }

    private func egress(_ field: Field) -> Egress? {
        guard let fields = field.object(known: ["port", "vsock_port", "allow", "deny", "transparent", "udp"]) else { return nil }
        let before = issues.count
        let port = fields.required("port", hint: "the proxy listens on 127.0.0.1:port, e.g. 3128").flatMap { $0.port() }
        let vsockPort = fields.required("vsock_port").flatMap { $0.vsockPort() }
        let allowed = fields["allow"].map(egressRules) ?? []
        let denied = fields["deny"].map(egressRules) ?? []
        let allow = allowed.map(\.rule), deny = denied.map(\.rule)
        let transparent = fields["transparent"].map { $0.bool() }
        let udp = fields["udp"].map { udpEgress($0, egressVsockPort: vsockPort) }
        guard issues.count == before, let port, let vsockPort else { return nil }
        var egress = Egress(port: port, vsockPort: vsockPort, allow: allow, deny: deny)
        if let transparent = transparent ?? nil { egress.transparent = transparent }
        egress.udp = udp ?? nil
        if egress.udp != nil, !egress.transparent, let field = fields["udp"] {
            issues.report(field, "UDP is captured only with transparent egress",
                          hint: "add \"transparent\": true to egress (the TUN device that reads the app's UDP is the default route that transparent egress sets up)")
        }
        if egress.udp == nil {
            for (element, rule) in allowed + denied where rule.transport == .udp {
                issues.report(element, "pattern \"\(rule.text)\" is for UDP, which is carried only with egress.udp",
                              hint: "add \"udp\": true and \"transparent\": true to egress, or drop the rule")
            }
        }
        return egress
    }

    /// `egress.udp`: true, false, or an object of settings (each optional).
    private func udpEgress(_ field: Field, egressVsockPort: UInt32?) -> UDPEgress? {
        let defaultPort: UInt32? = egressVsockPort.flatMap { $0 < UInt32(VsockLimits.ports.upperBound) ? $0 + 1 : nil }
        if case .bool(let enabled) = field.value {
            guard enabled else { return nil }
            guard let defaultPort else {
                if egressVsockPort != nil {
                    issues.report(field, "the default vsock port (egress.vsock_port + 1) is out of range",
                                  hint: "write {\"vsock_port\": N} with a free vsock port")
                }
                return nil
            }
            return UDPEgress(vsockPort: defaultPort)
        }
        guard case .object = field.value else {
            field.typeMismatch("true, false or an object", hint: "write \"udp\": true, or {\"vsock_port\": 8002, \"idle_seconds\": 60, \"max_flows\": 1024}")
            return nil
        }
        guard let fields = field.object(known: ["vsock_port", "idle_seconds", "max_flows"]) else { return nil }
        let before = issues.count
        let vsockPort = fields["vsock_port"].map { $0.vsockPort() }
        let idle = fields["idle_seconds"].map { $0.integer(UDPEgress.idleRange, noun: "idle_seconds") }
        let flows = fields["max_flows"].map { $0.integer(UDPEgress.maxFlowsRange, noun: "max_flows") }
        guard issues.count == before else { return nil }
        guard let port = (vsockPort ?? nil) ?? defaultPort else { return nil }
        var udp = UDPEgress(vsockPort: port)
        if let idle = idle ?? nil { udp.idleSeconds = Int(idle) }
        if let flows = flows ?? nil { udp.maxFlows = Int(flows) }
        return udp
    }

    /// Each rule with the element it came from (for checks across fields to point at).
    private func egressRules(_ field: Field) -> [(element: Field, rule: EgressRule)] {
        guard let elements = field.array() else { return [] }
        return elements.compactMap { element -> (element: Field, rule: EgressRule)? in
            guard let text = element.string() else { return nil }
            if let hostPort = URLSpelling.hostPort(of: text) {
                issues.report(element, "pattern \"\(text)\" is a URL; a pattern is a host (or address) with an optional port",
                              hint: "write \"\(hostPort)\"")
                return nil
            }
            switch EgressRule.parse(text) {
            case .success(let rule): return (element, rule)
            case .failure(let error):
                issues.report(element, "pattern \"\(text)\": \(error)",
                              hint: "examples: \"kms.*.amazonaws.com\", \"**.mycorp.com:443\", \"10.0.0.0/8\", \"[2001:db8::/32]:443\", \"udp:time.example.com:123\"")
                return nil
            }
        }
    }

    private func mount(_ field: Field, hosts: [HostMapping]) -> Mount? {
        let known = ["type", "server", "port", "export", "target", "options", "timeout_seconds", "required"]
        guard let fields = field.object(known: known) else { return nil }
        let before = issues.count
        if let type = fields.required("type", hint: "\"nfs4\" is the only mount type")?.string(), Mount.Kind(rawValue: type) == nil {
            issues.report(field.path / "type", at: fields["type"]?.node.location, "unsupported mount type \"\(type)\"",
                          hint: "\"nfs4\" is the only mount type")
        }
        let server = fields.required("server", hint: "the address of the hosts[] mapping that carries NFS").flatMap { mountServer($0, hosts: hosts) }
        let port = fields["port"].map { $0.port() }
        var export: String?
        if let exportField = fields["export"], let text = exportField.nonEmptyString() {
            if let problem = pathProblem(text) { issues.report(exportField, problem, hint: "NFSv4 exports are absolute, e.g. \"/\"") } else { export = text }
        }
        var target: String?
        if let targetField = fields.required("target", hint: "where to mount, e.g. \"/mnt/data\""), let text = targetField.nonEmptyString() {
            if let problem = pathProblem(text) { issues.report(targetField, problem) } else { target = text }
        }
        var options = ""
        var optionProblems = 0
        if let optionsField = fields["options"], let text = optionsField.string() {
            let problems: [(message: String, hint: String?)]
            if text.contains(where: { $0 == " " || $0 == "\n" || $0 == "\t" }) || text.utf8.contains(0) {
                problems = [("mount options must be comma-separated with no spaces", "e.g. \"hard,timeo=50\"")]
            } else {
                problems = nfsOptionProblems(text)
            }
            for problem in problems { issues.report(optionsField, problem.message, hint: problem.hint) }
            optionProblems = problems.count
            if problems.isEmpty { options = text }
        }
        let timeout = fields["timeout_seconds"].map { $0.integer(1...3600, noun: "mount timeout") }
        let required = fields["required"].map { $0.bool() }
        // Bad options are reported above and left out; the mount itself stays, so that the
        // checks across fields (its mapping, its target) still run and report at the same time.
        guard issues.count == before + optionProblems, let server, let target else { return nil }
        var mount = Mount(server: server, target: target, options: options)
        if let export { mount.export = export }
        if let port = port ?? nil { mount.port = port }
        if let seconds = timeout ?? nil { mount.timeoutSeconds = Int(seconds) }
        if let required = required ?? nil { mount.required = required }
        return mount
    }

    /// Options that would contradict the entry's own fields, or leave NFSv4: every one of them.
    private func nfsOptionProblems(_ text: String) -> [(message: String, hint: String?)] {
        guard !text.isEmpty else { return [] }
        let options = text.split(separator: ",", omittingEmptySubsequences: false)
        var problems: [(message: String, hint: String?)] = []
        if options.contains(where: \.isEmpty) { problems.append(("an empty option (two commas, or one at an end)", "e.g. \"hard,timeo=50\"")) }
        for option in options where !option.isEmpty {
            let parts = option.split(separator: "=", maxSplits: 1)
            let key = String(parts[0]), value = parts.count == 2 ? String(parts[1]) : ""
            switch key {
            case "addr", "port", "proto", "mountport", "mountaddr":
                problems.append(("\"\(key)\" is set by enclave-init from the entry (the proxy's alias, port and TCP)",
                                 "use \"server\" and \"port\" of the mount entry instead"))
            case "vers", "nfsvers":
                if ["4", "4.0", "4.1", "4.2"].contains(value) { continue }
                problems.append(("\(key)=\(value): only NFSv4 goes through a proxy (4, 4.0, 4.1 or 4.2)", "drop it for 4.2, or use vers=4.1"))
            default:
                continue
            }
        }
        return problems
    }

    private func app(_ field: Field) -> App? {
        let known = ["command", "env", "workdir", "user", "restart", "restart_limit", "restart_reset_seconds", "ready", "allow_vsock"]
        guard let fields = field.object(known: known) else { return nil }
        var app = App()
        if let commandField = fields["command"], case .string(let line) = commandField.value {
            // The shell habit: one string. The kernel takes an argv, and no shell splits it here.
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { "\"\($0)\"" }
            issues.report(commandField, "expected an array of strings (the program and its arguments), found the string \"\(line.prefix(60))\"",
                          hint: "write \"command\": [\(words.joined(separator: ", "))] (no shell splits a string here; "
                              + "for a shell command line: [\"/bin/sh\", \"-c\", \"...\"])")
        } else if let commandField = fields["command"], let command = commandField.stringArray() {
            if let first = command.first, first.isEmpty {
                issues.report(commandField / 0, "the program name is empty")
            }
            app.command = command
        }
        if let envField = fields["env"], let members = envField.members() {
            for (key, valueField) in members {
                guard let value = valueField.string() else { continue }
                if key.isEmpty || key.contains("=") || key.utf8.contains(0) || value.utf8.contains(0) {
                    issues.report(valueField, "environment variable \"\(key)\" has an empty name, '=' in its name, or a NUL byte")
                    continue
                }
                app.env.append((key, value))
            }
        }
        if let workdirField = fields["workdir"], let text = workdirField.nonEmptyString() {
            if let problem = pathProblem(text) { issues.report(workdirField, problem) } else { app.workdir = text }
        }
        if let userField = fields["user"], let text = userField.string() {
            if let user = UserSpec(text) {
                app.user = user
            } else {
                issues.report(userField, "user \"\(text)\" is not uid[:gid] or name[:group]",
                              hint: "e.g. \"1000:1000\", \"1000\", \"app\" or \"app:app\"")
            }
        }
        if let restartField = fields["restart"], let text = restartField.string() {
            if let policy = App.RestartPolicy(rawValue: text) {
                app.restart = policy
            } else {
                issues.report(restartField, "unknown restart policy \"\(text)\"", hint: "one of \"no\", \"on-failure\", \"always\"")
            }
        }
        if let limit = fields["restart_limit"]?.integer(0...1_000_000, noun: "restart limit") { app.restartLimit = Int(limit) }
        if let reset = fields["restart_reset_seconds"]?.integer(App.restartResetRange, noun: "restart_reset_seconds") {
            app.restartResetSeconds = Int(reset)
        }
        if let readyField = fields["ready"] { app.ready = readiness(readyField) }
        if let allow = fields["allow_vsock"]?.bool() { app.allowVsock = allow }
        return app
    }

    private func readiness(_ field: Field) -> Readiness? {
        guard let fields = field.object(known: ["tcp", "file", "timeout_seconds"]) else { return nil }
        let timeout = fields["timeout_seconds"].map { $0.integer(1...3600, noun: "readiness timeout") }
        var probe: Readiness.Probe?
        switch (fields["tcp"], fields["file"]) {
        case (let tcp?, nil): probe = tcp.port().map { .tcp($0) }
        case (nil, let file?):
            if let text = file.nonEmptyString() {
                if let problem = pathProblem(text) { issues.report(file, problem) } else { probe = .file(text) }
            }
        case (.some, .some):
            issues.report(field, "give either \"tcp\" or \"file\", not both")
        case (nil, nil):
            issues.report(field, "readiness needs \"tcp\" (a port) or \"file\" (a path)", hint: "e.g. {\"tcp\": 8080}")
        }
        guard let probe else { return nil }
        var readiness = Readiness(probe: probe)
        if let seconds = timeout ?? nil { readiness.timeoutSeconds = Int(seconds) }
        return readiness
    }

    // MARK: - Scalars

    /// A mount's server is the alias of the mapping that carries NFS; a name there is most
    /// likely that mapping's name, so its alias is the fix.
    private func mountServer(_ field: Field, hosts: [HostMapping]) -> IPv4Address? {
        if case .string(let text) = field.value, IPv4Address(text) == nil,
           let (index, host) = hosts.enumerated().first(where: { $0.element.names.contains(HostGrammar.canonical(text)) }) {
            issues.report(field, "\"\(text)\" is a name; a mount's server is the alias address of the hosts[] mapping that carries NFS",
                          hint: "hosts[\(index)] maps \"\(text)\" to \(host.address): write \"server\": \"\(host.address)\"")
            return nil
        }
        return loopbackAddress(field)
    }

    private func loopbackAddress(_ field: Field) -> IPv4Address? {
        guard let text = field.string() else { return nil }
        guard let address = IPv4Address(text) else {
            issues.report(field, "\"\(text)\" is not an IPv4 address", hint: "write four decimal numbers, e.g. \"127.0.0.2\"")
            return nil
        }
        guard address.isLoopback else {
            issues.report(field, "address \(address) is outside 127.0.0.0/8",
                          hint: "an enclave has only the loopback interface; pick an alias such as 127.0.0.2")
            return nil
        }
        return address
    }

    /// `hosts[].remote`: host:port, with the fix spelled out for a URL.
    func remoteHostPort(_ field: Field) -> HostPort? {
        guard let text = field.string() else { return nil }
        if let hostPort = URLSpelling.hostPort(of: text) {
            issues.report(field, "remote \"\(text)\" is a URL; the parent half dials a host:port and carries the bytes as they are",
                          hint: "write \"remote\": \"\(hostPort)\"")
            return nil
        }
        switch HostPort.parse(text) {
        case .success(let value):
            return value
        case .failure(let error):
            issues.report(field, "remote \"\(text)\" is not host:port (\(describe(error)))",
                          hint: "write it like \"kms.us-east-1.amazonaws.com:443\" or \"[2001:db8::1]:443\"")
            return nil
        }
    }

    private func describe(_ error: HostPort.ParseError) -> String {
        switch error {
        case .missingPort: return "the port is missing"
        case .badPort(let port): return "\"\(port)\" is not a port 1-65535"
        case .badHost(let host): return "\"\(host)\" is not a valid host"
        }
    }
}

extension Field {
    static func / (field: Field, index: Int) -> JSONPath { field.path / index }
}
