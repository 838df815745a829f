import Addressing
import BootConfig
import Foundation
import Testing
import TestSupport

/// The documented defaults (README, "Boot JSON reference") are what decoding produces.
@Suite struct DefaultsTests {
    @Test func minimalConfigWithCommandOverride() throws {
        let config = try BootConfigLoader.decode(Array(#"{"version": 1}"#.utf8), commandOverride: ["/bin/app", "--flag"])
        #expect(config.version == 1)
        #expect(config.hostname == nil)
        #expect(config.parentCID == 3)
        #expect(config.heartbeat.enabled == .auto)
        #expect(config.heartbeat.port == 9000)
        #expect(config.network.loopback.map(\.description) == ["127.0.0.1/8"])
        #expect(config.network.hostsFile == "/etc/hosts")
        #expect(config.hosts.isEmpty && config.ingress.isEmpty && config.mounts.isEmpty)
        #expect(config.egress == nil && config.logs == nil && config.status == nil)
        #expect(config.app.command == ["/bin/app", "--flag"])
        #expect(config.app.restart == .no)
        #expect(config.app.restartLimit == 5)
        #expect(config.app.workdir == nil && config.app.user == nil && config.app.ready == nil)
        #expect(config.shutdown.graceSeconds == 10)
    }

    @Test func mappingDefaults() throws {
        let json = withBase(#"""
            "hosts": [{"names": ["KMS.Example.com"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000},
                      {"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000}],
            "ingress": [{"vsock_port": 5000, "port": 8080}],
            "mounts": [{"type": "nfs4", "server": "127.0.0.200", "target": "/mnt"}],
            "logs": {"vsock_port": 9100}
            """#)
        let config = try BootConfigLoader.decode(Array(json.utf8))
        let host = try #require(config.hosts.first)
        #expect(host.names == ["kms.example.com"]) // names are case-insensitive: kept lower-case
        #expect(host.remote == nil)
        #expect(host.effectiveRemote == HostPort(host: "kms.example.com", port: 443))
        #expect(host.connectTimeoutMilliseconds == 5000)
        #expect(host.maxConnections == 0)
        #expect(config.ingress.first?.hostPort == 8080)
        let mount = try #require(config.mounts.first)
        #expect(mount.port == 2049 && mount.export == "/" && mount.options == "" && mount.timeoutSeconds == 30 && mount.required)
        #expect(config.logs?.bufferBytes == 1_048_576)
    }

    /// dns, egress.transparent and app.allow_vsock: off unless asked for, except that an egress
    /// policy takes vsock away from the app unless allow_vsock says otherwise.
    @Test func dnsTransparentAndVsockDefaults() throws {
        let none = try BootConfigLoader.decode(Array(withBase("").utf8))
        #expect(none.dns == nil && none.network.resolvConf == "/etc/resolv.conf")
        #expect(none.app.allowVsock == nil && none.appMayUseVsock)
        let egress = try BootConfigLoader.decode(Array(withBase(#""egress": {"port": 3128, "vsock_port": 8001}, "dns": {"vsock_port": 8053}"#).utf8))
        #expect(egress.dns == DNSSettings(vsockPort: 8053))
        #expect(egress.egress?.transparent == false)
        #expect(!egress.appMayUseVsock)
        let allowed = try BootConfigLoader.decode(Array(withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": false}"#)
            .replacingOccurrences(of: #""command": ["/bin/true"]"#, with: #""command": ["/bin/true"], "allow_vsock": true"#).utf8))
        #expect(allowed.egress?.transparent == false && allowed.appMayUseVsock)
        let refused = try BootConfigLoader.decode(Array(#"{"version": 1, "app": {"command": ["/bin/true"], "allow_vsock": false}}"#.utf8))
        #expect(!refused.appMayUseVsock)
    }

    /// egress.udp: off unless asked for; `true` takes the vsock port after egress.vsock_port,
    /// 60 s idle and 1024 flows; an object replaces only what it names.
    @Test func udpDefaults() throws {
        let off = try BootConfigLoader.decode(Array(withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": true}"#).utf8))
        #expect(off.egress?.udp == nil)
        let on = try BootConfigLoader.decode(Array(withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": true}"#).utf8))
        let udp = try #require(on.egress?.udp)
        #expect(udp.vsockPort == 8002 && udp.idleSeconds == 60 && udp.maxFlows == 1024)
        let tuned = try BootConfigLoader.decode(Array(withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": {"vsock_port": 9200, "max_flows": 16}}"#).utf8))
        #expect(tuned.egress?.udp?.vsockPort == 9200 && tuned.egress?.udp?.maxFlows == 16 && tuned.egress?.udp?.idleSeconds == 60)
        let explicitlyOff = try BootConfigLoader.decode(Array(withBase(#""egress": {"port": 3128, "vsock_port": 8001, "udp": false}"#).utf8))
        #expect(explicitlyOff.egress?.udp == nil)
    }

    /// control and clock: off unless asked for; the clock's interval defaults to 300 s.
    @Test func controlAndClockDefaults() throws {
        let none = try BootConfigLoader.decode(Array(withBase("").utf8))
        #expect(none.control == nil && none.clock == nil)
        let both = try BootConfigLoader.decode(Array(withBase(#""control": {"vsock_port": 9102}, "clock": {"vsock_port": 9103}"#).utf8))
        #expect(both.control == ControlSettings(vsockPort: 9102))
        #expect(both.clock == ClockSettings(vsockPort: 9103, intervalSeconds: 300))
    }

    @Test func heartbeatAcceptsBooleansAndAuto() throws {
        for (text, mode) in [("true", Heartbeat.Mode.on), ("false", .off), ("\"auto\"", .auto)] {
            let config = try BootConfigLoader.decode(Array(withBase(#""heartbeat": {"enabled": \#(text)}"#).utf8))
            #expect(config.heartbeat.enabled == mode)
        }
    }

    @Test func theFullFeaturedExampleIsValid() throws {
        let path = #filePath.replacingOccurrences(of: "Tests/BootConfigTests/DefaultsTests.swift", with: "docs/examples/full-featured.json")
        let config = try BootConfigLoader.load(path: path)
        #expect(config.hosts.count == 3)
        #expect(config.mounts.first?.server == config.hosts.last?.address)
        #expect(config.egress?.allow.count == 2)
    }

    /// The example image's own boot JSON needs nothing but a parent half: no mount of a
    /// server that may not exist (scripts/e2e-container boots it as shipped, under podman).
    @Test func theExampleImageConfigIsValidAndNeedsNoServer() throws {
        let path = #filePath.replacingOccurrences(of: "Tests/BootConfigTests/DefaultsTests.swift", with: "rootfs/etc/enclave-init/boot.json")
        let config = try BootConfigLoader.load(path: path)
        #expect(config.mounts.isEmpty)
        #expect(config.ingress.count == 1 && config.dns != nil && config.control != nil && config.status != nil)
    }
}
