import Addressing
import BootConfig
import Commands
import ConsoleLog
import Glibc
import Logging
import Relay
import UDPEgress
import Policy
import TimeSync
import DNS
import Services
import Processes

/// `enclave-init parent [serve] --config boot.json`: the mirror image of the enclave's proxies.
struct ParentServeCommand: Command {
    static let signalPolicy = SignalPolicy.drainOnTermination

    static let spec = CommandSpec(
        name: "serve",
        abstract: "Serve the parent side of a boot JSON (the default `parent` command).",
        discussion: """
        For each hosts[] entry: listen on vsock port vsock_port and dial remote (default: the first \
        name and port), resolving it for every connection and trying each address in turn.
        For each ingress[] entry: listen on TCP host_port (default: port) and dial the enclave's \
        vsock_port; the enclave is --enclave-cid N, or --enclave-name NAME looked up with \
        `nitro-cli describe-enclaves` when connections arrive (under ENCLAVE_INIT_VSOCK_DIR: CID 16 \
        unless given).
        egress: serve CONNECT on vsock_port under the policy (checked again here, every address a \
        name resolves to included); with egress.udp, also send the enclave's UDP flows from \
        sockets of this machine after the same checks, and carry their answers back.
        kms: serve the role's credentials (this process's AWS_* variables, else IMDSv2) on \
        credentials.vsock_port, to the enclave's CID only (--enclave-cid or --enclave-name; other \
        CIDs are refused and logged).
        logs: listen on vsock_port and print the enclave's log records to stdout, one line each, \
        prefixed "init  | ", "stdout| " or "stderr| ". status: listen on vsock_port and log every \
        status event (JSON); with --exit-with-enclave, exit with the enclave's exit code once it \
        reports shutdown. dns: answer the enclave's queries with this machine's resolvers. clock: \
        serve this machine's CLOCK_REALTIME (keep it synced: chrony with the Amazon Time Sync Service).
        """,
        options: EnclaveOptions.options + [
            OptionSpec("--ingress-bind", value: "address", help: "Where ingress listens (default: 0.0.0.0)."),
            OptionSpec("--allowlist", value: "file", help: "A vsock-proxy allowlist YAML: every hosts[].remote must be in it."),
            OptionSpec("--exit-with-enclave", help: "Exit with the enclave's exit code once its status stream reports it (needs a status section)."),
            OptionSpec("--gone-after", value: "seconds", help: "With --exit-with-enclave: exit 69 once the enclave's status stream has been closed this long without a shutdown (it died without saying so; default 15). With --enclave-name, nitro-cli is also asked every 5 s: an enclave it stops listing as RUNNING is gone at once."),
            OptionSpec("--status-file", value: "path", help: "Keep the enclave's last status event (one JSON line) in this file."),
        ] + AddressFamilyOptions.options + LoggingOptions.options
    )

    let enclave: EnclaveOptions
    let ingressBind: String
    let allowlist: String?
    let exitWithEnclave: Bool
    let goneAfter: Duration
    let statusFile: String?
    let family: AddressFamilyOptions
    let logging: LoggingOptions

    init(_ arguments: ParsedArguments) throws(UsageError) {
        enclave = try EnclaveOptions(arguments)
        ingressBind = arguments.string("--ingress-bind") ?? "0.0.0.0"
        allowlist = arguments.string("--allowlist")
        exitWithEnclave = arguments.flag("--exit-with-enclave")
        let goneAfter: UInt32? = try arguments.value("--gone-after")
        if let goneAfter, goneAfter == 0 || goneAfter > 86_400 { throw UsageError("--gone-after \(goneAfter): give 1-86400 seconds") }
        if goneAfter != nil && !exitWithEnclave { throw UsageError("--gone-after needs --exit-with-enclave") }
        self.goneAfter = goneAfter.map { .seconds(Int64($0)) } ?? ParentRunner.defaultGoneAfter
        statusFile = arguments.string("--status-file")
        family = try AddressFamilyOptions(arguments)
        logging = try LoggingOptions(arguments)
        if IPv4Address(ingressBind) == nil && !IPv6Address.isValid(ingressBind) {
            throw UsageError("--ingress-bind \(ingressBind) is not an IP address")
        }
    }

    func run() throws {
        let runner = ParentRunner(logging: logging)
        let (path, bootConfig) = try enclave.loadConfig()
        if exitWithEnclave && bootConfig.status == nil {
            Console.error("\(path): --exit-with-enclave needs a status section (e.g. \"status\": {\"vsock_port\": 9101}) to learn the enclave's exit code")
            throw CommandExit(InitExitCode.invalidConfig)
        }
        if statusFile != nil && bootConfig.status == nil {
            Console.error("\(path): --status-file needs a status section (e.g. \"status\": {\"vsock_port\": 9101})")
            throw CommandExit(InitExitCode.invalidConfig)
        }
        // Said now, not at the enclave's first status event, hours later.
        if let statusFile {
            let directory = statusFile.contains("/") ? String(statusFile[..<statusFile.lastIndex(of: "/")!]) : "."
            var info = stat()
            guard stat(directory.isEmpty ? "/" : directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, access(directory.isEmpty ? "/" : directory, W_OK) == 0 else {
                Console.error("--status-file \(statusFile): the directory \(directory.isEmpty ? "/" : directory) does not exist or is not writable; create it (systemd: RuntimeDirectory=)")
                throw CommandExit(UsageError.exitCode)
            }
        }
        if let allowlist {
            try runner.check(remotes: bootConfig.hosts.enumerated().compactMap { index, host in
                host.effectiveRemote.map { ("hosts[\(index)].remote", $0) }
            }, againstAllowlistAt: allowlist)
        }
        let target: RelayService.EnclaveCID?
        var stateWatch: EnclaveStateWatch?
        switch enclave.enclave(emulated: runner.emulation != nil) {
        case .cid(let cid): target = .fixed(cid)
        case .named(let name):
            let locator = EnclaveLocator(name: name)
            target = .lookup(description: "enclave \(name)", find: { try locator.cid() })
            if exitWithEnclave { stateWatch = EnclaveStateWatch(locator: locator, logger: runner.logger) }
        case nil: target = nil
        }
        let routes: [RelayRoute]
        do {
            routes = try RelayService.parentRoutes(for: bootConfig, options: .init(enclave: target, ingressBindAddress: ingressBind,
                                                                                  family: family.selected))
        } catch {
            runner.logger.error("\(path): \(error)")
            throw CommandExit(InitExitCode.bootStepFailed)
        }
        let sink = ParentStreams(config: bootConfig, statusFile: statusFile, logger: Logger(label: "enclave"))
        let emulation = runner.emulation
        // The parent half's services, in the listener table's order (the relays, the streams,
        // dns, clock, KMS credentials), each made from its entry; started in this order and
        // stopped in reverse.
        var services: [any Service] = routes.isEmpty ? [] : [RelayService(routes: routes, emulation: emulation, logger: Logger(label: "relay"))]
        for (entry, service) in ListenerTable(config: bootConfig).parentServices {
            let listen = entry.address
            switch service {
            case .logs: services.append(sink.receiver(.logs, listen: listen, emulation: emulation))
            case .status: services.append(sink.receiver(.status, listen: listen, emulation: emulation))
            case .dns:
                services.append(DNSForwarder(listen: listen, emulation: emulation, policy: bootConfig.egress.map(EgressPolicy.init),
                                             logger: Logger(label: "dns")))
            case .clock: services.append(ClockServer(listen: listen, emulation: emulation, logger: Logger(label: "clock")))
            case .kmsCredentials:
                guard let target else {
                    runner.logger.error("\(path): \(ParentError.credentialsNeedEnclave)")
                    throw CommandExit(InitExitCode.bootStepFailed)
                }
                services.append(CredentialsServer(listen: listen, emulation: emulation, enclave: target,
                                                  environment: CredentialSource.variables.reduce(into: [:]) { $0[$1] = ProcessEnvironment.value($1) }, logger: Logger(label: "kms")))
            case .udpEgress(let udp, let egress):
                services.append(UDPEgressServer(listen: listen, emulation: emulation, policy: EgressPolicy(egress),
                                                maxFlows: udp.maxFlows, idleSeconds: udp.idleSeconds, logger: Logger(label: "udp")))
            }
        }
        try runner.serve(services, streams: .init(sink: sink, exitWithEnclave: exitWithEnclave, goneAfter: goneAfter,
                                                       stateWatch: stateWatch), source: path)
    }
}
