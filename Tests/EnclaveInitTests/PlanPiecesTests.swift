import BootConfig
import LinuxNet
import Testing
import TestSupport

/// The pure pieces `plan` (and later the network step) is built from.
@Suite struct PlanPiecesTests {
    private func config(_ extra: String) throws -> BootConfiguration {
        try BootConfigLoader.decode(Array(withBase(extra).utf8))
    }

    @Test func hostsEntriesMergeNamesPerAddressInConfigOrder() throws {
        let config = try config(#"""
            "hostname": "enclave",
            "hosts": [{"names": ["b.example", "a.example"], "address": "127.0.0.3", "port": 443, "vsock_port": 8000},
                      {"names": ["c.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8001},
                      {"names": ["d.example"], "address": "127.0.0.3", "port": 80, "vsock_port": 8002},
                      {"remote": "10.0.0.1:80", "address": "127.0.0.4", "port": 80, "vsock_port": 8003}]
            """#)
        #expect(HostsEntries.entries(for: config).map(\.description) ==
                ["127.0.0.3 b.example a.example d.example", "127.0.0.2 c.example", "127.0.1.1 enclave"])
    }

    @Test func loopbackAddressesAreUniqueAndIncludeEveryAlias() throws {
        let config = try config(#"""
            "network": {"loopback": ["127.0.0.1/8", "127.0.0.2/24"]},
            "hosts": [{"names": ["a.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000},
                      {"names": ["b.example"], "address": "127.0.0.9", "port": 443, "vsock_port": 8001},
                      {"names": ["c.example"], "address": "127.0.0.9", "port": 80, "vsock_port": 8002}]
            """#)
        #expect(LoopbackPlan.addresses(for: config).map(\.description) == ["127.0.0.1/8", "127.0.0.2/24", "127.0.0.9/32"])
    }

    @Test func netlinkLibraryIsLinked() {
        #expect(Netlink.libraryVersion.hasPrefix("3."))
    }
}
