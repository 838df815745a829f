import Addressing
import Policy

/// The boot JSON, version 1, after decoding and validation. Every default lives here, and the
/// README's reference table lists the same values.
public struct BootConfiguration: Sendable, Equatable {
    public static let supportedVersion = 1

    public var version: Int = supportedVersion
    /// Set with sethostname(2) and written to the hosts block; nil leaves the hostname alone.
    public var hostname: String?
    /// The parent instance as seen from the enclave (Nitro: always 3).
    public var parentCID: UInt32 = 3
    public var heartbeat = Heartbeat()
    public var network = Network()
    public var hosts: [HostMapping] = []
    public var ingress: [Ingress] = []
    public var egress: Egress?
    public var mounts: [Mount] = []
    public var app = App()
    public var shutdown = Shutdown()
    public var logs: LogStream?
    public var status: StatusStream?
    public var dns: DNSSettings?
    public var attestation: AttestationSettings?
    public var control: ControlSettings?
    public var clock: ClockSettings?
    public var kms: KMSSettings?
    public var secrets: [Secret] = []
    /// Which PCR the boot JSON's bytes are measured into at boot.
    public var measure = Measure()
    /// What the boot's self-checks require (the rest they report).
    public var hardening = Hardening()

    public init() {}

    /// Whether the app may open AF_VSOCK sockets: app.allow_vsock, or by default only when no
    /// egress policy exists (a policy the app could bypass with one socket() call is no policy).
    public var appMayUseVsock: Bool { app.allowVsock ?? (egress == nil) }
}

/// `measure`: the boot JSON is extended into a PCR and locked before anything else runs
/// (NSM's ConfigMeasurement), so an attestation document names the config.
public struct Measure: Sendable, Equatable {
    public var pcr = 16
    public static let pcrRange: ClosedRange<Int> = 16...31

    public init() {}
}

/// `hardening`: the boot's self-checks (step 3, as the enclave's own init), each reported as a
/// status event and on the console; "require" stops the boot when the check fails.
public struct Hardening: Sendable, Equatable {
    public enum Demand: String, Sendable, Equatable {
        case report, require
    }

    /// The kernel's hardware RNG is the NSM's (`nsm-hwrng`).
    public var rngSource: Demand = .report
    /// The clock source is the hypervisor's (`kvm-clock`).
    public var clockSource: Demand = .report
    /// The running kernel command line is the one the image measured (ramdisk 0's /cmdline).
    public var cmdline: Demand = .report
    /// Not a debug-mode enclave (whose PCR0 reads all zero and whose memory its parent can read).
    public var debugMode: Demand = .report

    public init() {}

    public static let keys = ["rng_source", "clock_source", "cmdline", "debug_mode"]
}

public struct Heartbeat: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable {
        /// Only when enclave-init is PID 1 of the initial PID namespace (the real enclave init).
        case auto
        case on = "true"
        case off = "false"
    }

    public var enabled: Mode = .auto
    /// The vsock port nitro-cli listens on for the "enclave booted" byte.
    public var port: UInt32 = 9000

    public init() {}
}

public struct Network: Sendable, Equatable {
    /// Addresses put on `lo` besides every hosts[].address.
    public var loopback: [IPv4Interface] = [IPv4Interface(address: .loopback, prefixLength: 8)]
    public var hostsFile: String = "/etc/hosts"
    /// Gets the managed `nameserver 127.0.0.1` block when `dns` is configured.
    public var resolvConf: String = "/etc/resolv.conf"

    public init() {}
}

/// An outbound mapping: the app connects to address:port inside the enclave, enclave-init
/// carries the bytes over vsock to the parent, which dials `remote`.
public struct HostMapping: Sendable, Equatable {
    public var names: [String] = []
    public var address: IPv4Address
    public var port: UInt16
    public var vsockPort: UInt32
    /// nil means: the first name and `port`.
    public var remote: HostPort?
    public var connectTimeoutMilliseconds: Int = 5000
    /// 0 means no limit; excess connections wait in the accept backlog.
    public var maxConnections: Int = 0

    /// Where the parent half dials.
    public var effectiveRemote: HostPort? { remote ?? names.first.map { HostPort(host: $0, port: port) } }
}

/// An inbound mapping: the parent listens on TCP host_port and connects to the enclave's vsock
/// port; enclave-init accepts there and connects to 127.0.0.1:port.
public struct Ingress: Sendable, Equatable {
    public var vsockPort: UInt32
    public var port: UInt16
    /// The parent's TCP port; defaults to `port`.
    public var hostPort: UInt16
    /// `"attestation": true`: the target is enclave-init's own attestation endpoint (`port` is
    /// attestation.port), for a relying party outside (`enclave-init verify --endpoint`).
    public var toAttestation = false
    /// `tls`: enclave-init terminates TLS here (IngressTLS.swift); nil: the bytes pass as they come.
    public var tls: IngressTLS?
}

/// The HTTP CONNECT proxy on 127.0.0.1:port, forwarding over vsock to the parent.
public struct Egress: Sendable, Equatable {
    public var port: UInt16
    public var vsockPort: UInt32
    public var allow: [EgressRule] = []
    public var deny: [EgressRule] = []
    /// Capture every TCP connection the app opens to an address outside 127.0.0.0/8 and ::1,
    /// on any port, with no proxy settings, and carry it through the policy.
    public var transparent: Bool = false
    /// With `transparent`: the app's outbound UDP too (`egress.udp`), through a TUN device.
    public var udp: UDPEgress?
}

/// `egress.udp`: every UDP datagram the app sends outside 127.0.0.0/8 is read from a TUN device
/// (the default route), checked by the egress policy and carried over one vsock stream to the
/// parent half, which sends it from a socket of its own. `true` takes every default here.
public struct UDPEgress: Sendable, Equatable {
    /// The parent half's vsock port for the datagram stream; `egress.vsock_port + 1` by default.
    public var vsockPort: UInt32
    /// A flow (app port, destination address and port) with no datagram either way for this
    /// long is closed on both halves; the next datagram opens it again.
    public var idleSeconds: Int = 60
    /// Open flows at most; a new one past this evicts the one idle longest.
    public var maxFlows: Int = 1024

    public init(vsockPort: UInt32) {
        self.vsockPort = vsockPort
    }

    public static let idleRange: ClosedRange<Int64> = 1...3600
    public static let maxFlowsRange: ClosedRange<Int64> = 1...65536
    /// The TUN device the datagrams are read from (LinuxNet makes it at step 5).
    public static let deviceName = "ei-udp"
}

public struct Mount: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable { case nfs4 }

    public var kind: Kind = .nfs4
    /// The alias address of the hosts[] mapping that carries the NFS traffic.
    public var server: IPv4Address
    public var port: UInt16 = 2049
    public var export: String = "/"
    public var target: String
    /// Extra kernel mount options, comma-separated, e.g. "hard,timeo=50".
    public var options: String = ""
    public var timeoutSeconds: Int = 30
    public var required: Bool = true
}

public struct App: Sendable, Equatable {
    public enum RestartPolicy: String, Sendable, Equatable, CaseIterable {
        case no, onFailure = "on-failure", always
    }

    public var command: [String] = []
    public var env: [(key: String, value: String)] = []
    /// nil: enclave-init's own working directory.
    public var workdir: String?
    /// nil: run as enclave-init's own user (root).
    public var user: UserSpec?
    public var restart: RestartPolicy = .no
    public var restartLimit: Int = 5
    /// A run at least this long forgives the crashes before it: the restart count and the
    /// backoff start over (an app that crashes once a day must not end the enclave on day six).
    public var restartResetSeconds: Int = 300
    public static let restartResetRange: ClosedRange<Int64> = 1...86_400
    public var ready: Readiness?
    /// nil: the default, `BootConfiguration.appMayUseVsock` (false when egress is configured).
    public var allowVsock: Bool?

    public static func == (a: App, b: App) -> Bool {
        a.command == b.command && a.env.elementsEqual(b.env, by: { $0 == $1 }) && a.workdir == b.workdir
            && a.user == b.user && a.restart == b.restart && a.restartLimit == b.restartLimit
            && a.restartResetSeconds == b.restartResetSeconds && a.ready == b.ready
            && a.allowVsock == b.allowVsock
    }
}

public struct Readiness: Sendable, Equatable {
    public enum Probe: Sendable, Equatable {
        case tcp(UInt16)
        case file(String)
    }

    public var probe: Probe
    public var timeoutSeconds: Int = 30
}

public struct Shutdown: Sendable, Equatable {
    /// Time between SIGTERM and SIGKILL for what the app leaves running.
    public var graceSeconds: Int = 10
}

public struct LogStream: Sendable, Equatable {
    public var vsockPort: UInt32
    /// Records held while the parent is not connected; the oldest are dropped beyond this.
    public var bufferBytes: Int = 1_048_576
}

public struct StatusStream: Sendable, Equatable {
    public var vsockPort: UInt32
}

/// The DNS stub on 127.0.0.1:53 (UDP and TCP); what it does not answer itself goes to the
/// parent half over vsock (parent_cid, vsock_port) in DNS-over-TCP framing.
public struct DNSSettings: Sendable, Equatable {
    public var vsockPort: UInt32

    public init(vsockPort: UInt32) {
        self.vsockPort = vsockPort
    }

    /// Where the stub listens: DNS clients ask port 53 of the nameserver in resolv.conf.
    public static let listenAddress = "127.0.0.1"
    public static let listenPort: UInt16 = 53
}

/// The attestation endpoint for the app: HTTP on 127.0.0.1:port, answered with the NSM.
public struct AttestationSettings: Sendable, Equatable {
    public var port: UInt16

    public init(port: UInt16) {
        self.port = port
    }
}

/// The control port: enclave-init listens on vsock (any CID) for one command, `stop`, from the
/// parent (`enclave-init parent stop`), and shuts down as on SIGTERM.
public struct ControlSettings: Sendable, Equatable {
    public var vsockPort: UInt32

    public init(vsockPort: UInt32) {
        self.vsockPort = vsockPort
    }
}

/// Clock sync: the parent half serves its CLOCK_REALTIME on vsock_port; the enclave steps its
/// clock before the app starts and corrects it every interval_seconds.
public struct ClockSettings: Sendable, Equatable {
    public var vsockPort: UInt32
    public var intervalSeconds: Int = 300
    /// After the first sync, a correction larger than this is refused (logged, the clock left
    /// alone): a parent may not move the enclave's time far once it runs.
    public var maxStepSeconds: Int = 60

    public init(vsockPort: UInt32, intervalSeconds: Int = 300) {
        self.vsockPort = vsockPort
        self.intervalSeconds = intervalSeconds
    }

    /// Shorter is pointless (drift is seconds a week), longer lets the clock wander.
    public static let intervalRange: ClosedRange<Int64> = 10...86_400
    public static let maxStepRange: ClosedRange<Int64> = 1...31_536_000
}
