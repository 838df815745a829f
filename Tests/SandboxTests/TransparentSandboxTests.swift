import Foundation
import Testing
import TestSupport

/// Transparent egress end to end: an app with NO proxy settings resolves names through the
/// stub and connects directly; the capture rule (legacy xtables nat, set up by enclave-init
/// over setsockopt) sends every TCP connection outside 127.0.0.0/8 to the egress listener,
/// which names it from the stub's answers, checks the policy and carries it through the
/// parent's CONNECT server. The test hosts (198.18.0.0/15) exist only in the parent's own
/// network namespace, next to the dnsmasq that names them.
@Suite(.serialized) struct TransparentSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    @Test func anAppWithoutProxySettingsReachesAllowedHostsAndNothingElse() throws {
        let out = scratch.path + "/out", site = scratch.path + "/site"
        for directory in [out, site] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try "served at 198.18.0.10".write(toFile: site + "/id.txt", atomically: true, encoding: .utf8)
        let webPort = 18_900 + Int.random(in: 0..<80), echoPort = 7007
        let config = try scratch.write("boot.json", """
            {"version": 1,
             "hosts": [{"names": ["mapped.internal"], "address": "127.0.0.9", "port": 80, "vsock_port": 8000, "remote": "127.0.0.1:9"}],
             "egress": {"port": 3128, "vsock_port": 8001, "transparent": true,
                        "allow": ["**.example.test"], "deny": ["denied.example.test", "198.18.0.11"]},
             "dns": {"vsock_port": 8053}}
            """)
        let client = try scratch.write("client.py", TestHosts.client)
        let hosts = TestHosts(records: [("api.example.test", "198.18.0.10"), ("echo.example.test", "198.18.0.10"),
                                        ("sneaky.example.test", "198.18.0.11"), ("denied.example.test", "198.18.0.11")],
                              echoes: [("198.18.0.10", echoPort), ("198.18.0.11", echoPort)],
                              prelude: "python3 -m http.server \(webPort) --bind 198.18.0.10 --directory \(site) >/dev/null 2>&1 &\n")
        let parent = try hosts.startParent(config: config, vsock: vsock, scratch: scratch)

        let app = """
            unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
            curl -s --noproxy '*' -m 10 -o \(out)/web.body -w '%{http_code}' http://api.example.test:\(webPort)/id.txt > \(out)/web.code
            python3 \(client) echo.example.test \(echoPort) > \(out)/echo
            python3 \(client) 198.18.0.10 \(echoPort) > \(out)/literal
            python3 \(client) 198.18.0.11 \(echoPort) > \(out)/denied-literal
            python3 \(client) sneaky.example.test \(echoPort) > \(out)/sneaky
            python3 \(client) denied.example.test \(echoPort) > \(out)/denied-name
            python3 \(client) 2001:db8::1 \(echoPort) > \(out)/ipv6
            """
        // A first boot in the same namespaces (not PID 1) sets everything up once; the real one
        // must then find the route and the rule present, not add them twice.
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", app], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock],
                                        prelude: "\"$1\" run --config \(config) --log-level error -- /bin/true > /dev/null 2>&1 || true")
        let result = enclave.wait(timeout: .seconds(90))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        let log = result?.stderr ?? ""

        #expect(log.contains("capture: route default dev lo (present), nat OUTPUT tcp ! 127.0.0.0/8 -> 127.0.0.1:3128 (present)"), "\(log)")
        #expect(scratch.text("out/web.code") == "200" && scratch.text("out/web.body") == "served at 198.18.0.10", "\(scratch.text("out/web.code")) \(scratch.text("out/web.body"))\n\(log)")
        #expect(TestHosts.echoed(scratch.text("out/echo")), "\(scratch.text("out/echo"))")
        // A literal the stub has answered for a name is judged as that name (and allowed).
        #expect(TestHosts.echoed(scratch.text("out/literal")), "\(scratch.text("out/literal"))")
        #expect(TestHosts.refused(scratch.text("out/denied-literal")), "\(scratch.text("out/denied-literal"))")
        #expect(TestHosts.refused(scratch.text("out/sneaky")), "\(scratch.text("out/sneaky"))")
        #expect(scratch.text("out/denied-name").hasPrefix("error: gaierror"), "\(scratch.text("out/denied-name"))")
        #expect(scratch.text("out/ipv6").hasPrefix("error: ") && scratch.text("out/ipv6").contains("seconds: 0."), "\(scratch.text("out/ipv6"))")
        #expect(log.contains("egress: refused: egress policy (captured 198.18.0.11:\(echoPort), no name from the DNS stub): 198.18.0.11:\(echoPort) is denied by \"198.18.0.11\""), "\(log)")
        #expect(log.contains("egress: refused: egress policy (captured 198.18.0.11:\(echoPort), named sneaky.example.test): 198.18.0.11:\(echoPort) is denied by \"198.18.0.11\""), "\(log)")

        kill(parent.pid, SIGTERM)
        let parentLog = parent.wait(timeout: .seconds(10))?.stderr ?? ""
        #expect(parentLog.contains("requests: 3 allowed, 0 denied"), "\(parentLog)")
    }
}
