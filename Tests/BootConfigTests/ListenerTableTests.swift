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
            "tcp:127.0.0.1:3128 enclave-init egress.port",
            "tcp:127.0.0.1:7777 enclave-init attestation.port",
            "tcp:127.0.0.1:9999 enclave-init kms.proxy.port",
            "tcp:127.0.0.1:53 enclave-init dns",
            "vsock:any:9102 enclave-init control.vsock_port",
        ])
        #expect(rows(table, .parent) == [
            "vsock:any:9000 nitro-cli heartbeat.port",
            "vsock:any:8000 enclave-init parent hosts[0].vsock_port",
            "vsock:any:8002 enclave-init parent hosts[1].vsock_port",
            "vsock:any:20000 enclave-init parent hosts[2].vsock_port",
            "vsock:any:8001 enclave-init parent egress.vsock_port", "vsock:any:8011 enclave-init parent egress.udp",
            "tcp:0.0.0.0:80 enclave-init parent ingress[0].host_port",
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
        #expect(demo.on(.enclave).map(\.purpose) == [.outbound(host: 0), .ingress(0), .appPort(ingress: 0), .control])
        #expect(demo.on(.parent).map(\.purpose) == [.heartbeat, .outbound(host: 0), .ingress(0), .logs, .status])
        let image = ListenerTable(config: try load("rootfs/etc/enclave-init/boot.json"))
        #expect(image.on(.enclave, by: .enclaveInit).map(\.purpose) == [.outbound(host: 0), .ingress(0), .egress, .attestation, .dnsStub, .control])
        #expect(image.on(.parent, by: .parentHalf).map(\.purpose) == [.outbound(host: 0), .egress, .ingress(0), .logs, .status, .dns, .clock])
    }

    @Test func aConfigWithOnlyAnAppListensOnNothingButNitroCLIsHeartbeat() throws {
        let config = try BootConfigLoader.decode(Array(#"{"version": 1, "app": {"command": ["true"]}}"#.utf8), source: "test")
        let table = ListenerTable(config: config)
        #expect(!table.enclaveInitListens)
        #expect(rows(table, .parent) == ["vsock:any:9000 nitro-cli heartbeat.port"])
    }
}
