import Foundation
import Testing
import TestSupport

/// The egress proxy end to end: the app's curl, using the proxy variables enclave-init sets,
/// through the enclave half, emulated vsock and `enclave-init parent` (in a network namespace
/// of its own with a private /etc/hosts, next to the web server it may reach).
@Suite(.serialized) struct EgressSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    @Test func theAppsCurlReachesAllowedNamesAndIsRefusedTheRestWithReasons() throws {
        let site = scratch.path + "/site"
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: scratch.path + "/out", withIntermediateDirectories: true)
        try "served on the parent side".write(toFile: site + "/id.txt", atomically: true, encoding: .utf8)
        let port = 18_500 + Int.random(in: 0..<400)
        let config = try scratch.write("boot.json", """
            {"version": 1,
             "hosts": [{"names": ["mapped.internal"], "address": "127.0.0.9", "port": 80, "vsock_port": 8000, "remote": "127.0.0.1:9"}],
             "egress": {"port": 3128, "vsock_port": 8001,
                        "allow": ["**.example.test", "127.0.0.1"], "deny": ["blocked.example.test", "127.0.0.2"]}}
            """)
        let parentHosts = try scratch.write("parent-hosts", """
            127.0.0.1 localhost allowed.example.test blocked.example.test
            127.0.0.2 sneaky.example.test
            169.254.169.254 meta.example.test

            """)
        let parent = try Sandbox.startParent(["--config", config], hostsFile: parentHosts, environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock],
                                             ownNetwork: true,
                                             prelude: "python3 -m http.server \(port) --bind 127.0.0.1 --directory \(site) >/dev/null 2>&1 & echo $! > \(scratch.path)/server.pid")
        defer {
            kill(parent.pid, SIGKILL)
            // The web server is the parent's sibling in its namespace: it would outlive the test.
            if let text = try? String(contentsOfFile: scratch.path + "/server.pid", encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGKILL)
            }
        }
        #expect(eventually { parent.stderrSoFar.contains("listening: egress") }, "\(parent.stderrSoFar)")
        usleep(300_000) // the web server's start

        let out = scratch.path + "/out"
        let app = """
            env | grep -i _proxy | sort > \(out)/env
            fetch() { curl -s -m 10 "$@" -w '%{http_code}'; }
            fetch -o \(out)/allowed.body http://allowed.example.test:\(port)/id.txt > \(out)/allowed.code
            fetch -p -o \(out)/tunnel.body http://allowed.example.test:\(port)/id.txt > \(out)/tunnel.code
            fetch -o \(out)/blocked.body http://blocked.example.test:\(port)/id.txt > \(out)/blocked.code
            fetch -o \(out)/sneaky.body http://sneaky.example.test:\(port)/id.txt > \(out)/sneaky.code
            fetch -o \(out)/meta.body http://meta.example.test/latest/meta-data/ > \(out)/meta.code
            curl -s -m 10 -p -o /dev/null -w '%{http_connect}' http://meta.example.test/latest/meta-data/ > \(out)/meta-tunnel.code
            fetch -o \(out)/other.body http://other.test:\(port)/ > \(out)/other.code
            """
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", app], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let result = enclave.wait(timeout: .seconds(60))
        Sandbox.expectEnded(result, .pid1, withCode: 0)

        #expect(scratch.text("out/env").contains("http_proxy=http://127.0.0.1:3128"), "\(scratch.text("out/env"))")
        #expect(scratch.text("out/env").contains("HTTPS_PROXY=http://127.0.0.1:3128"))
        #expect(scratch.text("out/env").contains("no_proxy=localhost,127.0.0.1,::1,mapped.internal,127.0.0.9"))
        #expect(scratch.text("out/allowed.code") == "200" && scratch.text("out/allowed.body") == "served on the parent side", "\(scratch.text("out/allowed.code")) \(scratch.text("out/allowed.body"))")
        #expect(scratch.text("out/tunnel.code") == "200" && scratch.text("out/tunnel.body") == "served on the parent side", "\(scratch.text("out/tunnel.code")) \(scratch.text("out/tunnel.body"))")
        #expect(scratch.text("out/blocked.code") == "403")
        #expect(scratch.text("out/blocked.body") == "egress policy: blocked.example.test:\(port) is denied by \"blocked.example.test\"\n", "\(scratch.text("out/blocked.body"))")
        #expect(scratch.text("out/sneaky.code") == "403")
        #expect(scratch.text("out/sneaky.body").contains("egress policy (parent): sneaky.example.test:\(port) resolves to 127.0.0.2, which \"127.0.0.2\" denies"), "\(scratch.text("out/sneaky.body"))")
        #expect(scratch.text("out/meta.code") == "403")
        #expect(scratch.text("out/meta.body").contains("resolves to 169.254.169.254, a link-local address"), "\(scratch.text("out/meta.body"))")
        #expect(scratch.text("out/meta-tunnel.code") == "403", "CONNECT answered \(scratch.text("out/meta-tunnel.code"))")
        #expect(scratch.text("out/other.code") == "403")
        #expect(scratch.text("out/other.body").contains("no allow rule matches other.test:\(port)"))

        let log = result?.stderr ?? ""
        #expect(log.contains("proxy egress tcp:127.0.0.1:3128 -> egress proxy via vsock:3:8001: 7 accepted"), "\(log)")
        #expect(log.contains("requests: 2 allowed, 2 denied, 3 failed, 0 malformed"), "\(log)")
        kill(parent.pid, SIGTERM)
        let parentLog = parent.wait(timeout: .seconds(10))?.stderr ?? ""
        #expect(parentLog.contains("requests: 2 allowed, 3 denied, 0 failed, 0 malformed"), "\(parentLog)")
    }
}
