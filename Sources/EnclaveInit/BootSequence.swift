import Addressing
import AttestedTLS
import Commands
import DocumentReading
import BootConfig
import ConsoleLog
import Control
import DNS
import CSupport
import Glibc
import KMS
import Logging
import PID1
import Policy
import LinuxNet
import NFS
import NSM
import Relay
import Services
import Streams
import Processes
import Supervisor
import TimeSync
import UDPEgress

/// The steps of a boot, in the order they run. Their numbers come from this one list: `plan`
/// prints it, every step's console line starts with its `label` ("step 5/9 network: …"), and a
/// test checks the README's step numbers against it, so none of them can drift apart.
enum BootStep: String, CaseIterable {
    /// Before the Swift runtime: the C constructor (CSupport/early_init.c).
    case early
    case config
    case pid1Duties = "pid-1"
    case streams
    case network
    case proxies
    case mounts
    case secrets
    case app
    case supervise

    /// 1-based, in boot order.
    var number: Int { Self.allCases.firstIndex(of: self)! + 1 }
    /// How the console and `plan` name the step: "step 5/9 network".
    var label: String { "step \(number)/\(Self.allCases.count) \(rawValue)" }
}

/// The boot, top to bottom. Each step logs one line with its elapsed time; a failing step ends
/// the boot with exit code 70 and says which step failed and why. SIGTERM, SIGINT or the
/// control port's `stop` before the app exists aborts the boot at once (exit 128+N; 143 for a
/// `stop`), whatever step is running: every wait of a step goes through `interruption`. Once
/// the app runs they go to the supervisor.
struct BootSequence {
    let options: ConfigOptions
    let logger: Logger
    let early = ei_early().pointee
    /// The enclave's own init, a container's, or a child: what it mounts and how it ends.
    let kind = InitKind.of(wasPID1: ei_early().pointee.was_pid1)
    /// ENCLAVE_INIT_VSOCK_DIR: vsock emulated with Unix sockets (tests, demo, laptops).
    private let vsockEmulation = VsockEmulation.fromEnvironment(defaultCID: VsockEmulation.defaultEnclaveCID)
    /// Set by `stop` on the control port: the same shutdown as SIGTERM, wherever the boot is.
    private let stopRequest: StopRequest
    /// Takes SIGTERM, SIGINT and the stop flag while a step waits (BootInterruption).
    private let interruption: BootInterruption
    /// The self-checks' findings (step 3), reported on the status stream once it exists (step 4).
    private let selfCheckFindings = SelfCheckFindings()

    init(options: ConfigOptions, logger: Logger) {
        self.options = options
        self.logger = logger
        let stopRequest = StopRequest()
        self.stopRequest = stopRequest
        interruption = BootInterruption(isStopRequested: { stopRequest.isRequested })
    }

    /// A step's error, tagged once with the step (by `step(_:summary:_:)`); the error keeps
    /// its own type (RelayError, NetworkSetup's, NFS's ...) and its text is the console's.
    struct StepFailure: Error {
        var step: BootStep
        var underlying: Error
        var reason: String { "\(underlying)" }
    }

    /// SIGTERM, SIGINT or `stop` before the app started: the boot ends in the step that waits.
    struct Aborted: Error {
        var interrupted: BootInterruption.Interrupted
        /// " (during step 7/10 mounts)" when a step was cut short, "" between steps.
        var during = ""
        var source: StatusEvent.StopSource {
            switch interrupted.source {
            case .signal(_, let name): return .signal(name)
            case .stopRequest: return .parent
            }
        }
        /// 128+N for a signal; a `stop` counts as SIGTERM.
        var exitCode: Int32 { interrupted.exitCode }

        init(interrupted: BootInterruption.Interrupted) { self.interrupted = interrupted }

        /// The interruption inside a step's error (a mount retry, a KMS call), when there is one.
        init?(within error: Error) {
            switch error {
            case let interrupted as BootInterruption.Interrupted: self.interrupted = interrupted
            case NFSError.interrupted(_, let interrupted): self.interrupted = interrupted
            case let failure as SecretsLoader.Failure:
                guard let interrupted = failure.interruption else { return nil }
                self.interrupted = interrupted
            default: return nil
            }
        }
    }

    /// How long the end of a boot waits for the parent to acknowledge the streams' last records
    /// (a power-off right after would lose them): a parent that is connected needs milliseconds.
    static let streamsFinishTimeout: Duration = .seconds(2)

    /// Runs the boot and returns enclave-init's exit code (the caller exits, or powers off as PID 1).
    func run() -> Int32 {
        InitLog.startRecording()
        logger.info("enclave-init \(BuildInfo.version) starting", metadata: ["pid": "\(getpid())"])
        // Step 1 ran before the Swift runtime (the C constructor): say what it did.
        let sinceStart = Double(Console.monotonicNanoseconds() - Int64(early.started_ns)) / 1_000_000
        let before = early.mounted_proc ? "mounted /proc before the runtime started; signals blocked for the supervisor"
            : "signals blocked for the supervisor before the runtime started"
        logger.info("\(BootStep.early.label): \(before), \(sinceStart.formatted(decimals: 1)) ms")
        if early.proc_mount_errno != 0 {
            logger.warning("could not mount /proc early: \(String(cString: strerror(early.proc_mount_errno)))")
        }

        // Step 2: the config, validated as a whole before anything is touched.
        let config: BootConfiguration, configBytes: [UInt8]
        do {
            (config, configBytes) = try step(.config) { try options.loadWithBytes() }
        } catch let failure as StepFailure where failure.underlying is ConfigError {
            Console.error(failure.reason)
            return end(InitExitCode.invalidConfig)
        } catch {
            return end(InitExitCode.bootStepFailed)
        }

        var streams: EnclaveStreams?
        var control: ControlServer?
        return end(boot(config, configBytes: configBytes, streams: &streams, control: &control), streams: streams, control: control)
    }

    /// The last line, with the code; then `shutdown` to the parent (a `parent stop` waiting on
    /// the control port hears it too) and a short wait for its acknowledgement of everything.
    private func end(_ code: Int32, streams: EnclaveStreams? = nil, control: ControlServer? = nil) -> Int32 {
        if let report = Console.dropReport { logger.warning("\(report)") }
        logger.notice(kind.powersOff ? "powering off" : "exiting", metadata: ["exit_code": "\(code)"])
        control?.finish(exitCode: code, powerOff: kind.powersOff)
        if let streams {
            streams.report(.shutdown(exitCode: code, powerOff: kind.powersOff))
            let missed = streams.finish(timeout: Self.streamsFinishTimeout)
            if !missed.isEmpty { Console.error("enclave-init: \(missed) within \(Self.streamsFinishTimeout.components.seconds) s") }
        }
        return code
    }

    /// Steps 3-9 with a valid config; returns the exit code. `streams` is set at step 4 (or at
    /// a failure before it, to report that failure); `control` at step 6, and it outlives the
    /// other listeners to tell a waiting `parent stop` the exit code.
    private func boot(_ config: BootConfiguration, configBytes: [UInt8], streams: inout EnclaveStreams?, control: inout ControlServer?) -> Int32 {
        // Listeners live until the app is done for good, or until a later step fails; mounts
        // are undone before them (NFS needs its proxy to unmount).
        var listeners: Listeners?
        var mounted: MountedFilesystems?
        var clockKeeper: ClockKeeper?
        // With `kms`: the enclave's key and the KMS client, made at the first step that needs them.
        let kms = config.kms.map { KMSAccess(settings: $0, config: config, emulation: vsockEmulation) }
        defer {
            mounted?.unmountAll()
            listeners?.stop()
            clockKeeper?.stop()
        }
        do {
            // Step 3: what AWS's init would have done, when there is no AWS init; the clock.
            clockKeeper = try step(.pid1Duties) { try pid1Duties(config, configBytes: configBytes) }
            try abortIfSignalled()
            // Step 4: log and status streams to the parent; they buffer until it listens.
            if config.logs != nil || config.status != nil {
                streams = try step(.streams, summary: { $0.summary + " (boot \($0.bootID))" }) { startStreams(config) }
                streams?.report(.configOK(boot: streams?.bootID ?? ""))
                for (finding, required) in selfCheckFindings.value {
                    streams?.report(.selfCheck(check: finding.check, ok: finding.ok, found: finding.found, expected: finding.expected, required: required))
                }
            }
            // Step 5: lo up, aliases, hostname, /etc/hosts, resolv.conf with `dns`.
            let networkReport = try step(.network, summary: describe) { try network(config) }
            streams?.report(.networkUp)
            // Step 6: every listener (relays, the DNS stub, attestation, control) is up before the app starts.
            if ListenerTable(config: config).enclaveInitListens {
                listeners = try step(.proxies, summary: \.summary) { try startListeners(config, kms: kms, udpDevice: networkReport.capture?.udpDevice, streams: streams) }
                control = listeners?.control
            }
            streams?.report(.proxiesListening(listeners: listeners?.count ?? 0))
            // Step 7: NFSv4 through its proxy, retried until each mount's timeout.
            if !config.mounts.isEmpty {
                let done = try step(.mounts, summary: { "\($0.targets.count) of \(config.mounts.count) mounted" }) { try mountAll(config) }
                mounted = done
                streams?.report(.mounted(mounted: done.targets.count, configured: config.mounts.count))
            }
            try abortIfSignalled()
            // Step 8: each secret decrypted by KMS for this enclave alone, into the app's
            // environment or a file on a tmpfs; a required one that cannot be had ends the boot.
            var secrets = SecretsLoader.Outcome()
            if let kms, !config.secrets.isEmpty {
                secrets = try step(.secrets, summary: \.summary) { try loadSecrets(config, kms: kms) }
            }
            try abortIfSignalled()
            // Steps 9-10: spawn the app, supervise it, shut down; its status is ours. The mounts
            // go once the app and everything it left are gone, while the proxies still carry
            // their traffic; the listeners close after that (the defer above).
            let supervisor = try step(.app) { try makeSupervisor(config, streams: streams, secrets: secrets.environment) }
            secrets = SecretsLoader.Outcome()
            let code = supervisor.run()
            mounted?.unmountAll()
            return code
        } catch let failure as StepFailure {
            logger.error("boot failed at \(failure.step.label): \(failure.reason)")
            reportBootFailure(config, streams: &streams, step: failure.step.rawValue, error: failure.reason)
            return InitExitCode.bootStepFailed
        } catch let aborted as Aborted {
            switch aborted.source {
            case .signal(let name): logger.notice("received \(name) before the app started: boot aborted\(aborted.during)")
            case .parent: logger.notice("the parent asked to stop (control port) before the app started: boot aborted\(aborted.during)")
            }
            streams?.report(.stopping(by: aborted.source))
            return aborted.exitCode
        } catch {
            logger.error("boot failed: \(error)")
            reportBootFailure(config, streams: &streams, step: "unknown", error: "\(error)")
            return InitExitCode.bootStepFailed
        }
    }

    // MARK: - Steps

    /// Returns the clock keeper when `clock` is configured (it corrects every interval from now on).
    private func pid1Duties(_ config: BootConfiguration, configBytes: [UInt8]) throws -> ClockKeeper? {
        let inherited = ProcessTree.recordInherited()
        if !inherited.isEmpty {
            logger.info("pid-1: \(inherited.count) processes started before enclave-init (pids \(inherited.map(String.init).joined(separator: " "))) are not the app's: shutdown leaves them alone")
        }
        if let raised = ResourceLimits.raiseOpenFilesToHardLimit() {
            logger.debug("open files limit raised from \(raised.before) to \(raised.after)")
        }
        if kind != .child {
            logger.info("pid-1: \(kind)")
            let mounted = try SystemMounts.mountMissing(as: kind, logger: logger)
            logger.info("pid-1: mounted \(mounted.isEmpty ? "nothing (all present)" : mounted.joined(separator: " "))")
            // As AWS's init does, before anything needs vsock or /dev/nsm; a failure is the kernel's word.
            if kind == .enclave {
                try loadKernelModules()
                switch NSMModule.loadIfPresent() {
                case .absent: logger.debug("pid-1: \(NSMModule.Outcome.absent)")
                case .failed(let code): logger.warning("pid-1: \(NSMModule.Outcome.failed(errno: code))")
                case let outcome: logger.info("pid-1: \(outcome)")
                }
            }
        } else {
            logger.debug("pid-1: \(kind)")
            if ei_set_child_subreaper() != 0 {
                logger.warning("cannot become a child subreaper: \(String(cString: strerror(errno))); orphans will be reaped by PID 1")
            } else {
                logger.debug("child subreaper: orphans of the app are reaped here")
            }
        }
        // Before the heartbeat, any service, the app or a secret: what the config is, in a PCR.
        try measureConfig(config, bytes: configBytes)
        try selfChecks(config)

        let heartbeatWanted: Bool
        switch config.heartbeat.enabled {
        case .off: heartbeatWanted = false
        case .on: heartbeatWanted = true
        case .auto: heartbeatWanted = kind == .enclave
        }
        if heartbeatWanted {
            let target = heartbeatTarget(config)
            // Up to its 5 s timeout when nobody answers: a stop need not wait for it.
            switch try interruption.run({ Result { () throws(PID1Error) in try HeartbeatSender.send(to: target) } }) {
            case .success: logger.info("pid-1: heartbeat to \(target) answered")
            // nitro-cli decides what a missing heartbeat means; the app can still run.
            case .failure(let error): logger.error("\(error.description)")
            }
        }
        seedEntropy()
        return try syncClock(config)
    }

    /// The boot JSON's bytes extended into `measure.pcr` and locked (NSM's ConfigMeasurement)
    /// as the enclave's own init, or wherever the NSM is emulated (tests, local runs): a failure
    /// stops the boot. A container or a child says so and goes on (nothing there to attest), as
    /// does a VM with no NSM device at all (no document can be made there either).
    private func measureConfig(_ config: BootConfiguration, bytes: [UInt8]) throws {
        let pcr = config.measure.pcr
        let value = Hex.string(ConfigMeasurement.expectedValue(of: bytes))
        guard kind == .enclave || NSMEmulation.socketPath != nil else {
            return logger.info("pid-1: config not measured: not an enclave (no NSM to extend); in one, PCR\(pcr) would be \(value)")
        }
        // No device at all (a VM that is not a Nitro enclave, a kernel without the driver): no
        // document can be made either, so nothing could claim a config; said loudly, not fatal.
        guard NSMEmulation.socketPath != nil || NSMDevice.exists() else {
            let why = "no NSM device at \(NSMDevice.configuredPath) (not a Nitro enclave, or its driver did not load)"
            return logger.warning("pid-1: config not measured: \(why); no attestation document can be made here. In an enclave, PCR\(pcr) would be \(value)")
        }
        let device = NSMDevice()
        do {
            let value = try ConfigMeasurement.measure(bytes, pcr: pcr) { request in try device.callWaiting(request) }
            logger.info("pid-1: boot JSON measured into PCR\(pcr) and locked: \(Hex.string(value))")
        } catch {
            throw PID1Error.measurement(error.reason)
        }
    }

    /// As the enclave's own init: the RNG and clock sources, the running command line against
    /// the measured one, debug mode; each a console line (and a status event once the streams
    /// are up: `selfCheckFindings`); a failed one that `hardening` requires stops the boot.
    private func selfChecks(_ config: BootConfiguration) throws {
        guard kind == .enclave else { return logger.debug("pid-1: self-checks: not the enclave's own init") }
        var pcr0: [UInt8]?
        if NSMEmulation.socketPath != nil || NSMDevice.exists(), case .describePCR(_, let data)? = try? NSMDevice().callWaiting(.describePCR(index: 0)) {
            pcr0 = data
        }
        let hardening = config.hardening
        let findings: [(SelfChecks.Finding, Hardening.Demand)] = [(SelfChecks.rngSource(), hardening.rngSource), (SelfChecks.clockSource(), hardening.clockSource),
                                                                  (SelfChecks.cmdline(), hardening.cmdline), (SelfChecks.debugMode(pcr0: pcr0), hardening.debugMode)]
        selfCheckFindings.set(findings.map { ($0.0, $0.1 == .require) })
        for (finding, demand) in findings {
            let line = "pid-1: self-check \(finding.check): \(finding.ok ? "ok" : "FAILED") (\(finding.found)\(finding.ok ? "" : "; expected \(finding.expected)"))"
                + (demand == .require ? ", required" : "")
            if finding.ok { logger.info("\(line)") } else { logger.warning("\(line)") }
            if !finding.ok, demand == .require { throw PID1Error.selfCheck(check: finding.check, found: finding.found, expected: finding.expected) }
        }
    }

    /// /modules_load_order's modules (a modular kernel's vsock and NSM drivers), in order. A
    /// module that fails is named with the kernel's reason; the boot fails only when vsock then
    /// does not exist, since without it the enclave can reach nothing.
    private func loadKernelModules() throws {
        let files: [String]?
        do { files = try KernelModules.listed() } catch { throw PID1Error.moduleList(error) }
        guard let files else { return logger.debug("pid-1: no \(KernelModules.orderFile)") }
        let report = KernelModules.load(files)
        if report.failed.isEmpty { logger.info("pid-1: \(report.description)") } else { logger.error("pid-1: \(report.description)") }
        guard KernelModules.vsockAvailable else { throw PID1Error.noVsock(modules: report.description) }
    }

    /// With `clock`: the parent's time before the app starts (a large offset is stepped), then a
    /// correction every interval. The parent being away is a warning: the app runs on our clock.
    private func syncClock(_ config: BootConfiguration) throws -> ClockKeeper? {
        guard let settings = config.clock else { return nil }
        // A container's clock is its host's (CLOCK_REALTIME has no namespace): setting it would
        // set the host's, and on a local run the host is the parent anyway.
        guard kind != .container else {
            logger.info("clock: left alone: a container shares its host's clock (the host keeps it in sync)")
            return nil
        }
        let parent = Endpoint.vsock(cid: config.parentCID, port: settings.vsockPort)
        let keeper = ClockKeeper(sampler: ClockSampler(parent: vsockEmulation?.emulate(connectingTo: parent) ?? parent),
                                 interval: .seconds(settings.intervalSeconds), maximumStep: .seconds(settings.maxStepSeconds),
                                 logger: Logger(label: "clock"))
        switch try interruption.run({ keeper.syncBeforeTheApp() }) {
        case .corrected(.none, let measurement): logger.info("clock: \(ClockKeeper.Outcome.corrected(.none, measurement))")
        case .failed(let reason): logger.warning("clock: \(ClockKeeper.Outcome.failed(reason))")
        case let outcome: logger.notice("clock: \(outcome)")
        }
        keeper.startCorrecting()
        return keeper
    }

    /// Wherever it runs: entropy from the NSM, when there is one, before the app starts. A
    /// failure is a warning: the app can run on the kernel's own entropy.
    private func seedEntropy() {
        guard NSMDevice.exists() else { return logger.debug("entropy: no NSM device at \(NSMDevice.configuredPath)") }
        let device = NSMDevice()
        do throws(Entropy.Failure) {
            let credited = try Entropy.seed(from: device)
            let estimate = ei_entropy_count()
            logger.info("entropy: credited \(credited) bytes from the NSM to the kernel's pool\(estimate >= 0 ? " (its estimate: \(estimate) bits)" : "")")
        } catch {
            logger.warning("entropy: \(error); the kernel's own entropy only")
        }
    }

    private func heartbeatTarget(_ config: BootConfiguration) -> Endpoint {
        let parent = Endpoint.vsock(cid: config.parentCID, port: config.heartbeat.port)
        return vsockEmulation?.emulate(connectingTo: parent) ?? parent
    }

    private func startStreams(_ config: BootConfiguration) -> EnclaveStreams {
        EnclaveStreams(config: config, emulation: vsockEmulation, logger: Logger(label: "streams"))
    }

    /// boot_failed goes out even when the failing step came before the streams' own step.
    private func reportBootFailure(_ config: BootConfiguration, streams: inout EnclaveStreams?, step: String, error: String) {
        guard config.logs != nil || config.status != nil else { return }
        if streams == nil { streams = startStreams(config) }
        streams?.report(.bootFailed(step: step, error: error, exitCode: nil))
    }

    /// Step 6's services, in the listener table's order: the relays, then the attestation
    /// endpoint, the KMS endpoint, the DNS stub, the UDP capture and the control port (last: it
    /// outlives the others, so nothing after it can fail). Each is made from its table entry:
    /// where it listens, where it dials, its section's settings. Stopped in reverse; what
    /// started is stopped again if a later one fails.
    private func startListeners(_ config: BootConfiguration, kms: KMSAccess?, udpDevice: TunDevice?, streams: EnclaveStreams?) throws -> Listeners {
        // The stub's answers name the connections the capture rule sends to the egress listener,
        // and the UDP flows the TUN device reads.
        let names = NameTable()
        let routes = RelayService.enclaveRoutes(for: config, names: { names.names(for: .v4($0)) })
        var services: [any Service] = routes.isEmpty ? [] : [RelayService(routes: routes, emulation: vsockEmulation, logger: Logger(label: "relay"))]
        var control: ControlServer?
        for (entry, service) in ListenerTable(config: config).enclaveServices {
            // The parent's end as the emulation reaches it, and how the log says it.
            let parent = entry.dial.flatMap { dial -> (target: Endpoint, description: String)? in
                guard case .endpoint(let endpoint) = dial else { return nil }
                let emulated = vsockEmulation?.emulate(connectingTo: endpoint) ?? endpoint
                return (emulated, emulated == endpoint ? "\(endpoint)" : "\(endpoint) (emulated: \(emulated))")
            }
            switch (service, entry.address, parent) {
            case (.tlsIngress(let index, let ingress, let tls), _, _):
                let logger = Logger(label: "tls")
                // ACME's requests go out the way the app's would: the relays started above carry them.
                services.append(try TLSIngress(index: index, ingress: ingress, settings: tls, nsm: NSMDevice(), emulation: vsockEmulation, logger: logger,
                                               route: { [config] in try? config.outboundRoute(to: $0).get() },
                                               events: { event in
                                                   streams?.report(event.statusEvent)
                                                   if case .acmeFailed = event { logger.warning("\(event)") } else { logger.info("\(event)") }
                                               }))
            case (.attestation, .tcp(_, let port), _):
                services.append(AttestationEndpoint(nsm: NSMDevice(), port: Int(port), logger: Logger(label: "attestation")))
            case (.kmsProxy, .tcp(_, let port), _):
                guard let kms else { continue }
                services.append(KMSProxy(client: try kms.client(), key: try kms.key(), port: Int(port), logger: Logger(label: "kms")))
            case (.dnsStub, _, let parent?):
                services.append(DNSStub(rules: StubRules(config: config), parent: parent.target, names: names, logger: Logger(label: "dns")))
            case (.udpCapture(let udp, let egress), _, let parent?):
                guard let udpDevice else { continue } // step 5 makes it whenever egress.udp is on
                services.append(UDPCapture(device: udpDevice, parent: parent.target, parentDescription: parent.description,
                                           maxFlows: udp.maxFlows, idleSeconds: udp.idleSeconds, policy: EgressPolicy(egress),
                                           names: { names.names(for: .v4($0)) }, logger: Logger(label: "udp")))
            case (.control(let settings), _, _):
                let server = ControlServer(vsockPort: settings.vsockPort, emulation: vsockEmulation, logger: Logger(label: "control"),
                                           onStop: { [stopRequest] in stopRequest.request() })
                control = server
                services.append(server)
            case (.attestation, _, _), (.kmsProxy, _, _), (.dnsStub, _, nil), (.udpCapture, _, nil):
                continue // the table gives each of these its TCP port or its parent
            }
        }
        return Listeners(running: try RunningServices.start(services), control: control)
    }

    private func loadSecrets(_ config: BootConfiguration, kms: KMSAccess) throws -> SecretsLoader.Outcome {
        let owner = try appCredentials(config).map { (uid: $0.uid, gid: $0.gid) }
        return try SecretsLoader(secrets: config.secrets, client: try kms.client(), key: try kms.key(), owner: owner,
                                 wait: .seconds(config.kms?.waitSeconds ?? 0), interruption: interruption, logger: logger).load()
    }

    /// app.user from the image's /etc/passwd and /etc/group; nil: enclave-init's own (root).
    private func appCredentials(_ config: BootConfiguration) throws -> Credentials? {
        guard let user = config.app.user else { return nil }
        switch UserDatabase().resolve(user) {
        case .success(let resolved): return resolved
        case .failure(let error): throw error
        }
    }

    /// AWS_ENDPOINT_URL_KMS: every current AWS SDK and the CLI send KMS calls there.
    private func kmsEndpointVariable(_ config: BootConfiguration) -> [(key: String, value: String)] {
        config.kms?.proxyURL.map { [("AWS_ENDPOINT_URL_KMS", $0)] } ?? []
    }

    private func mountAll(_ config: BootConfiguration) throws -> MountedFilesystems {
        try NFSMounter(logger: Logger(label: "mounts"), interruption: interruption).mountAll(config.mounts)
    }

    private func network(_ config: BootConfiguration) throws -> NetworkSetup.Report {
        try NetworkSetup.apply(config)
    }

    /// "lo up, 4 addresses (127.0.0.1/8 127.0.0.2/32 …, 2 new), hostname enclave, /etc/hosts: 3 names (replaced)"
    private func describe(_ report: NetworkSetup.Report) -> String {
        let addresses = report.addresses.map(\.description).joined(separator: " ")
        var text = "lo up, \(report.addresses.count) addresses (\(addresses); \(report.added) new)"
        if let hostname = report.hostname { text += ", hostname \(hostname)" }
        func said(_ outcome: ManagedBlockFile.WriteOutcome) -> String {
            switch outcome {
            case .unchanged: return "unchanged"
            case .replaced: return "replaced"
            case .rewrittenInPlace: return "rewritten in place: it is a mount point"
            }
        }
        text += ", \(report.hostsFile): \(report.names) names (\(said(report.hostsOutcome)))"
        if let resolvConf = report.resolvConf { text += ", \(resolvConf.path): nameserver 127.0.0.1 (\(said(resolvConf.outcome)))" }
        if let capture = report.capture { text += ", " + EgressCapture.describe(capture) }
        return text
    }

    private func makeSupervisor(_ config: BootConfiguration, streams: EnclaveStreams?, secrets: [(key: String, value: String)]) throws -> AppSupervisor {
        let credentials = try appCredentials(config)
        // The egress proxy's variables come before app.env, which may override them.
        let environment = LaunchSpec.environment(inherited: ProcessEnvironment.entries(),
                                                 overrides: EgressEnvironment.variables(for: config) + config.app.env + kmsEndpointVariable(config) + secrets,
                                                 home: credentials?.home)
        // With a log stream the app writes into pipes that enclave-init copies to the console
        // and to the stream; without one it writes to the console directly.
        let capture = try streams?.captureOutput()
        let launch = LaunchSpec(command: config.app.command, environment: environment, workdir: config.app.workdir,
                                credentials: credentials, output: capture.map { ($0.stdoutWriter, $0.stderrWriter) },
                                denyVsock: !config.appMayUseVsock)
        return AppSupervisor(settings: .init(launch: launch, restart: config.app.restart, restartLimit: config.app.restartLimit,
                                             restartReset: .seconds(config.app.restartResetSeconds),
                                             grace: .seconds(config.shutdown.graceSeconds), ready: config.app.ready.map(ReadinessProbe.init),
                                             stop: stopRequest),
                             logger: Logger(label: "supervisor"),
                             observe: { event in streams?.report(AppStatusEvents.event(for: event)) })
    }

    // MARK: - Helpers

    private func abortIfSignalled() throws {
        if let interrupted = interruption.check() { throw Aborted(interrupted: interrupted) }
    }

    /// Runs one step and logs one line: what it did and how long it took. An error from the
    /// step's body is tagged with the step here, once.
    @discardableResult
    private func step<T>(_ step: BootStep, summary: (T) -> String = { _ in "done" }, _ body: () throws -> T) throws -> T {
        let start = Console.monotonicNanoseconds()
        let result: T
        do {
            result = try body()
        } catch let error as Aborted {
            throw error
        } catch {
            if var aborted = Aborted(within: error) {
                aborted.during = " (during \(step.label))"
                throw aborted
            }
            throw StepFailure(step: step, underlying: error)
        }
        let elapsed = Double(Console.monotonicNanoseconds() - start) / 1_000_000
        logger.info("\(step.label): \(summary(result)), \(elapsed.formatted(decimals: 1)) ms")
        return result
    }
}

extension Double {
    func formatted(decimals: Int) -> String {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (self * scale).rounded()
        let whole = Int64(scaled) / Int64(scale)
        let fraction = abs(Int64(scaled) % Int64(scale))
        guard decimals > 0 else { return "\(whole)" }
        let digits = String(fraction)
        return "\(whole).\(String(repeating: "0", count: decimals - digits.count))\(digits)"
    }
}

/// Step 3's self-check findings, kept for the status stream of step 4.
final class SelfCheckFindings: @unchecked Sendable {
    private(set) var value: [(SelfChecks.Finding, required: Bool)] = []
    func set(_ findings: [(SelfChecks.Finding, required: Bool)]) { value = findings }
}
