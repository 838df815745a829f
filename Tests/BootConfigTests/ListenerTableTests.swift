import Addressing
import BootConfig
import DocumentReading
import Testing

/// The one table of what a config makes listen, against the repository's own example configs:
/// every socket, on its side, with its owner and the field that sets it, in start order.
@Suite struct ListenerTableTests {
    private func load(_ relative: String) throws -> BootConfiguration {
        try BootConfigLoader.load(path: #filePath.replacingOccurrences(of: "Tests/BootConfigTests/ListenerTableTests.swift", with: relative))
    }

    private func rows(_ table: ListenerTable, _ side: ListenerTable.Side) -> [String] {
        table.on(side).map { "\($0.address) \($0.owner.rawValue) \($0.field)" }
    }

    @Test func theFullFeaturedExample() throws {
        let table = ListenerTable(config: try load("docs/examples/full-featured.json"))
        #expect(rows(table, .enclave) == [
            "tcp:127.0.0.2:443 enclave-init hosts[0].port",
            "tcp:127.0.0.3:443 enclave-init hosts[1].port",
            "tcp:127.0.0.200:2049 enclave-init hosts[2].port",
            "vsock:any:5000 enclave-init ingress[0].vsock_port",
            "tcp:127.0.0.1:8080 the app ingress[0].port",
            "vsock:any:5443 enclave-init ingress[1].vsock_port",
            "tcp:127.0.0.1:8080 the app ingress[1].port",
            "tcp:127.0.0.1:3128 enclave-init egress.port",
            "tcp:127.0.0.1:7777 enclave-init attestation.port",
            "tcp:127.0.0.1:9999 enclave-init kms.proxy.port",
            "tcp:127.0.0.1:53 enclave-init dns",
            "dev:ei-udp enclave-init egress.udp",
            "vsock:any:9102 enclave-init control.vsock_port",
        ])
        #expect(rows(table, .parent) == [
            "vsock:any:9000 nitro-cli heartbeat.port",
            "vsock:any:8000 enclave-init parent hosts[0].vsock_port",
            "vsock:any:8002 enclave-init parent hosts[1].vsock_port",
            "vsock:any:20000 enclave-init parent hosts[2].vsock_port",
            "vsock:any:8001 enclave-init parent egress.vsock_port", "vsock:any:8011 enclave-init parent egress.udp",
            "tcp:0.0.0.0:80 enclave-init parent ingress[0].host_port",
            "tcp:0.0.0.0:443 enclave-init parent ingress[1].host_port",
            "vsock:any:9100 enclave-init parent logs.vsock_port",
            "vsock:any:9101 enclave-init parent status.vsock_port",
            "vsock:any:8053 enclave-init parent dns.vsock_port",
            "vsock:any:9103 enclave-init parent clock.vsock_port",
            "vsock:any:8010 enclave-init parent kms.credentials.vsock_port",
        ])
        #expect(table.enclaveInitListens)
    }

    @Test func theDemoAndTheExampleImage() throws {
        let demo = ListenerTable(config: try load("demo/boot.json"))
        #expect(demo.on(.enclave).map(\.purpose.name) == ["outbound[0]", "ingress[0]", "app port of ingress[0]", "control"])
        #expect(demo.on(.parent).map(\.purpose.name) == ["heartbeat", "outbound[0]", "ingress[0]", "logs", "status"])
        let image = ListenerTable(config: try load("rootfs/etc/enclave-init/boot.json"))
        #expect(image.on(.enclave, by: .enclaveInit).map(\.purpose.name) == ["outbound[0]", "ingress[0]", "egress", "attestation", "dns stub", "control"])
        #expect(image.on(.parent, by: .parentHalf).map(\.purpose.name) == ["outbound[0]", "egress", "ingress[0]", "logs", "status", "dns", "clock"])
    }

    /// Each entry carries what its service needs: the section's settings and where it dials, so
    /// that step 6 and `parent serve` never go back to the config. The UDP capture is an entry
    /// too, on the device it reads.
    @Test func entriesCarryTheirSettingsAndWhereTheyDial() throws {
        let config = try BootConfigLoader.decode(Array(#"""
            {"version": 1, "parent_cid": 3,
             "hosts": [{"names": ["db.internal"], "address": "127.0.0.9", "port": 5432, "vsock_port": 8000, "remote": "db.example:5432"}],
             "ingress": [{"port": 8080, "vsock_port": 5000, "host_port": 80}],
             "egress": {"port": 3128, "vsock_port": 8001, "allow": ["**.example"], "transparent": true, "udp": true},
             "dns": {"vsock_port": 8053}, "control": {"vsock_port": 9102},
             "app": {"command": ["true"]}}
            """#.utf8), source: "test")
        let table = ListenerTable(config: config)
        let dials = table.on(.enclave, by: .enclaveInit).map { "\($0.purpose.name) \($0.address) -> \($0.dial.map { "\($0)" } ?? "-")" }
        #expect(dials == [
            "outbound[0] tcp:127.0.0.9:5432 -> endpoint(vsock:3:8000)",
            "ingress[0] vsock:any:5000 -> endpoint(tcp:127.0.0.1:8080)",
            "egress tcp:127.0.0.1:3128 -> endpoint(vsock:3:8001)",
            "dns stub tcp:127.0.0.1:53 -> endpoint(vsock:3:8053)",
            "udp capture dev:ei-udp -> endpoint(vsock:3:8002)",
            "control vsock:any:9102 -> -",
        ])
        let parent = table.on(.parent, by: .parentHalf).map { "\($0.purpose.name) \($0.address) -> \($0.dial.map { "\($0)" } ?? "-")" }
        #expect(parent == [
            "outbound[0] vsock:any:8000 -> remote(Optional(db.example:5432))",
            "egress vsock:any:8001 -> perConnection",
            "udp egress vsock:any:8002 -> perConnection",
            "ingress[0] tcp:0.0.0.0:80 -> enclave(vsockPort: 5000)",
            "dns vsock:any:8053 -> perConnection",
        ])
        guard case .udpCapture(let udp, let egress) = table.enclaveServices[1].service else {
            Issue.record("the UDP capture is not an entry: \(table.enclaveServices)")
            return
        }
        #expect(udp == config.egress?.udp && egress == config.egress)
        #expect(table.relays(on: .parent).count == 3)
        #expect(table.parentServices.count == 2)
    }

    @Test func aConfigWithOnlyAnAppListensOnNothingButNitroCLIsHeartbeat() throws {
        let config = try BootConfigLoader.decode(Array(#"{"version": 1, "app": {"command": ["true"]}}"#.utf8), source: "test")
        let table = ListenerTable(config: config)
        #expect(!table.enclaveInitListens)
        #expect(rows(table, .parent) == ["vsock:any:9000 nitro-cli heartbeat.port"])
    }
}
