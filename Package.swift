// swift-tools-version:6.0
// enclave-init: one static binary that boots the inside of an AWS Nitro Enclave.
// Module layout: see README.md ("Code layout") and shared/DESIGN.md section 6.
import PackageDescription

let package = Package(
    name: "enclave-init",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "enclave-init", targets: ["enclave-init"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // The binary: main.swift only, hands argv to EnclaveInit.
        .executableTarget(name: "enclave-init", dependencies: ["EnclaveInit"]),

        // Command line (swift-argument-parser) and the boot sequence, top to bottom.
        .target(name: "EnclaveInit", dependencies: [
            "BootConfig", "LinuxNet", "Relay", "Mounts", "Supervisor", "Streams", "CSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Boot JSON v1: model, strict decoding, validation with JSON paths. No I/O but reading the file.
        .target(name: "BootConfig", dependencies: [.product(name: "SystemPackage", package: "swift-system")]),

        // Netlink (libnl-3, libnl-route-3), /etc/hosts, hostname.
        .target(name: "LinuxNet", dependencies: [
            "BootConfig", "CNetlink",
            .product(name: "SystemPackage", package: "swift-system"),
        ]),

        // Endpoints and the byte relay on SwiftNIO.
        .target(name: "Relay", dependencies: [
            "BootConfig", "CSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Step 4: log and status streams to the parent (both halves), the app's output capture.
        .target(name: "Streams", dependencies: [
            "BootConfig", "Relay", "CSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Step 7: NFSv4 mounts with mount(2) (no mount.nfs), unmounted at shutdown.
        .target(name: "Mounts", dependencies: [
            "BootConfig", "CSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Spawn, signals, reaping, shutdown, PID-1 duties.
        .target(name: "Supervisor", dependencies: [
            "BootConfig", "CSupport",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SystemPackage", package: "swift-system"),
        ]),

        .systemLibrary(name: "CNetlink", pkgConfig: "libnl-route-3.0",
                       providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]),
        .target(name: "CSupport"),

        // Test-only: boot JSON tables, a config mutator and a process runner shared by the tests.
        .target(name: "TestSupport", dependencies: ["CTestSupport", .product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport"),
        .target(name: "CTestSupport", path: "Tests/CTestSupport"),
        .testTarget(name: "BootConfigTests", dependencies: ["BootConfig", "TestSupport"]),
        .testTarget(name: "EnclaveInitTests", dependencies: ["EnclaveInit", "BootConfig", "LinuxNet", "Relay", "TestSupport"]),
        .testTarget(name: "LinuxNetTests", dependencies: ["LinuxNet", "BootConfig"]),
        .testTarget(name: "MountsTests", dependencies: ["Mounts", "BootConfig"]),
        .testTarget(name: "RelayTests", dependencies: [
            "Relay", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "StreamsTests", dependencies: [
            "Streams", "BootConfig", "Relay", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "SupervisorTests", dependencies: ["Supervisor", "BootConfig", "TestSupport"]),
        // Root only: the static binary as PID 1 in Linux namespaces (run by scripts/test).
        .testTarget(name: "SandboxTests", dependencies: ["TestSupport", "CTestSupport", "LinuxNet", "BootConfig"]),
    ],
    swiftLanguageModes: [.v6]
)
