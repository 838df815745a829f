// swift-tools-version:6.0
// enclave-init: one static binary that boots the inside of an AWS Nitro Enclave.
// Module layout: see README.md ("Code layout") and docs/design.md.
import PackageDescription

let package = Package(
    name: "enclave-init",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "enclave-init", targets: ["enclave-init"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/swift-extras/swift-extras-base64", from: "1.2.0"),
    ],
    targets: [
        // The binary: main.swift and the root command, the one place the enclave's commands and
        // the parent's meet (so neither module imports the other).
        .executableTarget(name: "enclave-init", dependencies: [
            "EnclaveInit", "Parent", "EnclaveImage", "BootConfig", "ConsoleLog", "Processes", "CSupport",
            "Commands", "Verifier",
        ]),

        // The enclave's commands (run, check, plan) and the boot sequence, top to bottom.
        .target(name: "EnclaveInit", dependencies: [
            "Services",
            "Addressing", "BootConfig", "ConsoleLog", "DNS", "DocumentReading", "KMS", "LinuxNet", "Policy", "Relay", "NFS", "NSM", "PID1", "Processes", "Supervisor", "Streams", "Control", "TimeSync", "UDPEgress", "CSupport",
            "AttestedTLS", "Commands",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // The parent-instance half: `parent serve` (the mirror image of the enclave's proxies and
        // the streams' receiving end), the vsock-proxy drop-in, the nitro-cli enclave lookup.
        // Never depends on the enclave's boot.
        .target(name: "Parent", dependencies: [
            "Services",
            "DocumentReading",
            "Addressing", "BootConfig", "ConsoleLog", "Control", "DNS", "KMS", "Policy", "Relay", "Streams", "Processes", "TimeSync", "UDPEgress",
            "Commands",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),

        // What every command prints: console lines (ms since start, level, component), the
        // log handler behind them, and --log-level.
        .target(name: "ConsoleLog", dependencies: [
            "CSupport",
            "Commands",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Addresses, parsed once and used by every module: endpoints (vsock:, unix:, tcp:), listen
        // addresses, host:port, IP literals, address families, the vsock emulation read from the
        // environment, and the one bind/connect switch over address kinds.
        .target(name: "Addressing", dependencies: [
            "CSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),

        // The command line: specs, the parser, generated help and usage, the entry point
        // (written here: swift-argument-parser brings Foundation along; CommandLineParser.swift).
        .target(name: "Commands", dependencies: ["DocumentReading", "Processes", "CSupport"]),

        // Reading documents: a strict JSON parser that keeps line and column (the boot JSON, the
        // streams' lines, the attestation request, nitro-cli's answer) and the one whole-file reader.
        .target(name: "DocumentReading", dependencies: [.product(name: "SystemPackage", package: "swift-system")]),

        // Boot JSON v1: model, strict decoding, validation with JSON paths. No I/O but reading the file.
        .target(name: "BootConfig", dependencies: [
            "Addressing", "DocumentReading", "Policy",
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "ExtrasBase64", package: "swift-extras-base64"),
        ]),

        // Step 5: netlink (libnl-3, libnl-route-3), /etc/hosts, hostname, resolv.conf, the capture rule.
        .target(name: "LinuxNet", dependencies: [
            "DocumentReading",
            "Addressing", "BootConfig", "CNetlink", "CSupport",
            .product(name: "SystemPackage", package: "swift-system"),
        ]),

        // The egress policy (allow/deny rules over names, addresses and ports) and the
        // destinations it judges: used by the relay's proxies and by the DNS stub.
        .target(name: "Policy", dependencies: ["Addressing"]),

        // egress.udp: the app's UDP read from a TUN device inside, its flows, the frames on the
        // vsock stream, and the parent's sockets that send the datagrams on.
        .target(name: "UDPEgress", dependencies: [
            "Services",
            "Addressing", "BootConfig", "LinuxNet", "Policy", "LogThrottle",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // A log line let through at most once a second, with a count of the rest (relay, DNS).
        .target(name: "LogThrottle", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),

        // The DNS stub inside the enclave (127.0.0.1:53, UDP and TCP) and the parent's
        // forwarder to its system's resolvers; the names recent answers gave to addresses.
        .target(name: "DNS", dependencies: [
            "Services",
            "Addressing", "BootConfig", "Policy", "LogThrottle", "CSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // TLS terminated inside the enclave for the attested ingress: a key and certificate made
        // in memory, and OpenSSL on memory BIOs inside a NIO channel.
        .target(name: "AttestedTLS", dependencies: [
            "COpenSSL", "Addressing", "BootConfig", "DocumentReading", "KMS", "NSM", "Policy", "Services",
            .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // CBOR (RFC 8949), strict and bounded: the NSM's messages and attestation documents.
        .target(name: "CBORCoding"),

        // `enclave-init verify`: an attestation document checked as a relying party would (COSE,
        // ES384, the chain to AWS's pinned root with OpenSSL), then against the PCRs expected.
        .target(name: "Verifier", dependencies: [
            "Addressing", "CBORCoding", "COpenSSL", "Commands", "ConsoleLog", "DocumentReading", "EnclaveImage", "HTTPHead",
            .product(name: "ExtrasBase64", package: "swift-extras-base64"),
        ]),

        // The Nitro Secure Module: the device's ioctl, its messages, the attestation endpoint, entropy.
        .target(name: "NSM", dependencies: [
            "Services", "CBORCoding", "COpenSSL",
            "DocumentReading", "CSupport", "Addressing",
            .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            "HTTPHead",
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // What every long-running piece of either half is (start, stop, what it listens on), the
        // list that starts them in order and stops them in reverse, and the one event-loop group.
        .target(name: "Services", dependencies: [
            "Addressing",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),

        // Enclave images (EIF): the format, its CRC and PCRs, writing and describing them.
        .target(name: "EnclaveImage", dependencies: ["BootConfig", "Processes", "CZlib", "COpenSSL", "DocumentReading", "Commands", "ConsoleLog"]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // KMS with attestation: the enclave's RSA key and its CMS envelopes, SigV4, TLS to KMS
        // through the app's own route, the boot's secrets step and the SDK endpoint; the
        // credentials' wire form both halves speak.
        .target(name: "KMS", dependencies: [
            "Services",
            "COpenSSL", "CSupport", "Addressing", "BootConfig", "DocumentReading", "HTTPHead", "NSM", "Policy", "Processes",
            .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),

        // The binary's one HTTP/1 parser: request heads, bodies (Content-Length, chunked), the
        // responses it writes (the egress proxy, the parent's CONNECT server, the attestation endpoint).
        .target(name: "HTTPHead", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),

        // Listeners and connection setup on SwiftNIO; the bytes move with splice(2).
        .target(name: "Relay", dependencies: [
            "Services",
            "HTTPHead", "Addressing", "BootConfig", "Policy", "LogThrottle", "CSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Step 4: log and status streams to the parent (both halves), the app's output capture.
        .target(name: "Streams", dependencies: [
            "Services", "Commands",
            "DocumentReading",
            "Addressing", "BootConfig", "CSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // The control port, both ends: the enclave's listener for `stop`, the protocol `parent stop` speaks.
        .target(name: "Control", dependencies: [
            "Services",
            "Addressing", "LogThrottle",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Clock sync, both ends: the parent serves its CLOCK_REALTIME, the enclave samples and corrects.
        .target(name: "TimeSync", dependencies: [
            "Services",
            "Addressing",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Step 7: NFSv4 mounts with mount(2) (no mount.nfs), unmounted at shutdown.
        .target(name: "NFS", dependencies: [
            "BootConfig", "CSupport", "Processes",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Step 3 as the initial namespace's PID 1: the system mounts, the heartbeat to nitro-cli,
        // telling a VM's init from a container's, and the power-off that replaces exiting.
        .target(name: "PID1", dependencies: [
            "DocumentReading", "Addressing", "CSupport",
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Processes, for every command of the binary: starting one (the app, a helper command and
        // its output), its termination status and enclave-init's exit codes, the signals and each
        // command's policy for them.
        .target(name: "Processes", dependencies: ["CSupport"]),

        // Steps 8-9, PID 1's supervision: the app's user, reaping, restart, readiness, shutdown.
        .target(name: "Supervisor", dependencies: [
            "DocumentReading", "Processes",
            "Addressing", "BootConfig", "PID1", "CSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SystemPackage", package: "swift-system"),
        ]),

        .systemLibrary(name: "CNetlink", pkgConfig: "libnl-route-3.0",
                       providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]),
        .target(name: "CSupport"),

        // Test-only: boot JSON tables, a config mutator and a process runner shared by the tests.
        .target(name: "TestSupport", dependencies: ["CTestSupport", .product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport"),
        .target(name: "CTestSupport", path: "Tests/CTestSupport"),
        .testTarget(name: "AddressingTests", dependencies: ["Addressing"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy", "Addressing", "BootConfig"]),
        .testTarget(name: "TimeSyncTests", dependencies: ["TimeSync", "Addressing", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "ControlTests", dependencies: ["Control", "Addressing", "TestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "DNSTests", dependencies: [
            "DNS", "Policy", "Addressing", "BootConfig", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "NSMTests", dependencies: [
            "NSM", "CBORCoding", "DocumentReading", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "BootConfigTests", dependencies: ["Addressing", "BootConfig", "DocumentReading", "Policy", "TestSupport"]),
        .testTarget(name: "EnclaveInitTests", dependencies: ["EnclaveInit", "Addressing", "BootConfig", "LinuxNet", "Relay", "TestSupport"]),
        .testTarget(name: "CommandsTests", dependencies: ["Commands"]),
        .testTarget(name: "HTTPHeadTests", dependencies: ["HTTPHead"]),
        .testTarget(name: "KMSTests", dependencies: ["KMS", "Addressing", "BootConfig", "DocumentReading", "TestSupport", .product(name: "ExtrasBase64", package: "swift-extras-base64")]),
        .testTarget(name: "EnclaveImageTests", dependencies: ["EnclaveImage", "TestSupport"]),
        .testTarget(name: "AttestedTLSTests", dependencies: [
            "AttestedTLS", "NSM", "CBORCoding", "DocumentReading", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "VerifierTests", dependencies: ["Verifier", "CBORCoding", "DocumentReading", "TestSupport"],
                    exclude: ["fixtures", "forge.py", "independent_verify.py"]),
        .testTarget(name: "ServicesTests", dependencies: [
            "Services", "Addressing", .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .testTarget(name: "ParentTests", dependencies: ["Parent", "KMS", "Addressing", "BootConfig", "Commands", "Relay", "Processes", "TestSupport"]),
        .testTarget(name: "UDPEgressTests", dependencies: [
            "UDPEgress", "Policy", "Addressing", "BootConfig",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "LinuxNetTests", dependencies: ["LinuxNet", "BootConfig"]),
        .testTarget(name: "NFSTests", dependencies: ["NFS", "BootConfig"]),
        .testTarget(name: "RelayTests", dependencies: [
            "Relay", "HTTPHead", "Policy", "Addressing", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "StreamsTests", dependencies: [
            "Streams", "Addressing", "BootConfig", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SupervisorTests", dependencies: ["Supervisor", "Processes", "BootConfig", "TestSupport", "CSupport"]),
        .testTarget(name: "PID1Tests", dependencies: ["PID1", "TestSupport"]),
        // Root only: the static binary as PID 1 in Linux namespaces (run by scripts/test).
        .testTarget(name: "SandboxTests", dependencies: ["TestSupport", "CTestSupport", "Addressing", "LinuxNet", "BootConfig"],
                    exclude: ["standins"]),
    ],
    swiftLanguageModes: [.v6]
)
