import Foundation
import Testing
import TestSupport

/// Both halves are ours: `enclave-init parent` on the machine's network (names from a private
/// /etc/hosts), enclave-init as PID 1 in fresh namespaces, vsock emulated with Unix sockets.
@Suite(.serialized) struct ParentSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    /// python's http.server on 127.0.0.1 serving one file `id.txt` that says `text`.
    private func webServer(saying text: String) throws -> (SpawnedProcess, UInt16) {
        let site = scratch.path + "/site-\(text)"
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        try text.write(toFile: site + "/id.txt", atomically: true, encoding: .utf8)
        let port = try BlockingSocket.freePort()
        let server = try SpawnedProcess("/usr/bin/python3", ["-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", site])
        #expect(eventually(timeout: .seconds(10)) { (try? BlockingSocket.connect(port: port)) != nil })
        return (server, port)
    }

    private func parentHosts(_ lines: String) throws -> String {
        try scratch.write("parent-hosts", "127.0.0.1 localhost\n" + lines)
    }

    private func file(_ name: String) -> String {
        (try? String(contentsOfFile: scratch.path + "/" + name, encoding: .utf8)) ?? ""
    }

    private func stop(_ parent: SpawnedProcess) -> ProcessResult? {
        kill(parent.pid, SIGTERM)
        return parent.wait(timeout: .seconds(10))
    }

    @Test func theAppReachesTwoServersByNameAndAClientReachesTheAppThroughIngress() throws {
        let (api, apiPort) = try webServer(saying: "api")
        let (store, storePort) = try webServer(saying: "store")
        defer { kill(api.pid, SIGKILL); kill(store.pid, SIGKILL) }
        let ingressPort = try BlockingSocket.freePort()
        let config = try scratch.write("boot.json", """
            {"version": 1,
             "hosts": [{"names": ["api.example.test"], "address": "127.0.0.10", "port": 80, "vsock_port": 8000,
                        "remote": "api.example.test:\(apiPort)"},
                       {"names": ["store.example.test"], "address": "127.0.0.11", "port": 80, "vsock_port": 8001,
                        "remote": "store.example.test:\(storePort)"}],
             "ingress": [{"vsock_port": 5000, "port": 8080, "host_port": \(ingressPort)}]}
            """)
        let parent = try Sandbox.startParent(["--config", config, "--enclave-cid", "16", "--ingress-bind", "127.0.0.1"],
                                             hostsFile: try parentHosts("127.0.0.1 api.example.test store.example.test\n"),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        defer { kill(parent.pid, SIGKILL) }
        #expect(eventually { parent.stderrSoFar.components(separatedBy: "listening:").count == 4 }, "\(parent.stderrSoFar)")

        let app = try scratch.write("app.py", ParentScripts.fetchThenServe)
        let upper = try scratch.write("upper.py", RelayScripts.upperCaseServer)
        let ready = scratch.path + "/ready"
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/usr/bin/python3", app, scratch.path, upper, ready],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let initPID = try #require(Sandbox.initPID(of: enclave, .pid1))
        #expect(eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: ready) }, "\(enclave.stderrSoFar)")
        #expect(file("api.example.test") == "api")
        #expect(file("store.example.test") == "store")

        // A client on the parent instance: TCP host_port -> parent half -> vsock 16:5000 -> the app.
        for round in 0..<3 {
            let reply = try ProcessRunner.run("/usr/bin/socat", ["-t", "5", "-", "TCP:127.0.0.1:\(ingressPort)"], stdin: "through ingress \(round)")
            #expect(reply.stdout == "THROUGH INGRESS \(round)", "\(reply.output)")
        }
        kill(initPID, SIGTERM)
        Sandbox.expectEnded(enclave.wait(timeout: .seconds(20)), .pid1, withCode: 143)
        let parentResult = stop(parent)
        #expect(parentResult?.status == 0)
        let log = parentResult?.stderr ?? ""
        #expect(log.contains("api.example.test vsock:any:8000 -> tcp:api.example.test:\(apiPort): 1 accepted, 0 active"), "\(log)")
        #expect(log.contains("store.example.test vsock:any:8001 -> tcp:store.example.test:\(storePort): 1 accepted, 0 active"), "\(log)")
        #expect(log.contains("ingress \(ingressPort) tcp:127.0.0.1:\(ingressPort) -> vsock:16:5000: 3 accepted, 0 active"), "\(log)")
        #expect(log.contains("received SIGTERM"))
    }

    /// The name's first address refuses; the second serves. vsock-proxy would give up.
    @Test func aNameWhoseFirstAddressRefusesIsReachedThroughItsSecond() throws {
        let (server, port) = try webServer(saying: "second")
        defer { kill(server.pid, SIGKILL) }
        let config = try scratch.write("boot.json", """
            {"version": 1, "hosts": [{"names": ["svc.example.test"], "address": "127.0.0.12", "port": 80, "vsock_port": 8000,
                                      "remote": "svc.example.test:\(port)"},
                                     {"names": ["gone.example.test"], "address": "127.0.0.13", "port": 80, "vsock_port": 8001}]}
            """)
        // glibc puts ::1 before 127.0.0.1 (RFC 6724 precedence); the server listens on IPv4 only.
        let parent = try Sandbox.startParent(["--config", config, "--log-level", "debug"],
                                             hostsFile: try parentHosts("127.0.0.1 svc.example.test\n::1 svc.example.test\n"),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        defer { kill(parent.pid, SIGKILL) }
        #expect(eventually { parent.stderrSoFar.components(separatedBy: "listening:").count == 3 }, "\(parent.stderrSoFar)")
        let request = "GET /id.txt HTTP/1.0\r\nHost: svc.example.test\r\n\r\n"
        for _ in 0..<3 {
            let reply = try ProcessRunner.run("/usr/bin/socat", ["-t", "5", "-", "UNIX-CONNECT:\(vsock)/3-8000"], stdin: request)
            #expect(reply.stdout.hasSuffix("\r\n\r\nsecond"), "\(reply.output)")
        }
        // A name that resolves nowhere fails its own connection only; the listener keeps serving.
        let failed = try ProcessRunner.run("/usr/bin/socat", ["-t", "5", "-", "UNIX-CONNECT:\(vsock)/3-8001"], stdin: request)
        #expect(failed.stdout.isEmpty)
        let again = try ProcessRunner.run("/usr/bin/socat", ["-t", "5", "-", "UNIX-CONNECT:\(vsock)/3-8000"], stdin: request)
        #expect(again.stdout.hasSuffix("second"))
        let log = stop(parent)?.stderr ?? ""
        #expect(log.contains("svc.example.test vsock:any:8000 -> tcp:svc.example.test:\(port): 4 accepted, 0 active"), "\(log)")
        #expect(log.components(separatedBy: "svc.example.test: tcp:[::1]:\(port) failed (").count == 5, "\(log)")
        #expect(log.contains("gone.example.test: cannot reach tcp:gone.example.test:80: cannot resolve gone.example.test"), "\(log)")
        #expect(log.contains("0 upstream failures") && log.contains("1 upstream failures"), "\(log)")
    }

    @Test func theVsockProxyFormServesAnAllowedRemoteAndRefusesOthers() throws {
        let (server, port) = try webServer(saying: "allowed")
        defer { kill(server.pid, SIGKILL) }
        let allowlist = try scratch.write("vsock-proxy.yaml", """
            # as in /etc/nitro_enclaves/vsock-proxy.yaml
            allowlist:
            - {address: kms.us-east-1.amazonaws.com, port: 443}
            - address: "svc.example.test"
              port: \(port)
            """)
        let hosts = try parentHosts("127.0.0.1 svc.example.test\n")
        let proxy = try Sandbox.startParent(["vsock-proxy", "8002", "svc.example.test", "\(port)", "--config", allowlist, "-w", "4", "-4"],
                                            hostsFile: hosts, environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        defer { kill(proxy.pid, SIGKILL) }
        #expect(eventually { proxy.stderrSoFar.contains("listening:") }, "\(proxy.stderrSoFar)")
        let reply = try ProcessRunner.run("/usr/bin/socat", ["-t", "5", "-", "UNIX-CONNECT:\(vsock)/3-8002"],
                                          stdin: "GET /id.txt HTTP/1.0\r\n\r\n")
        #expect(reply.stdout.hasSuffix("allowed"), "\(reply.output)")
        let log = stop(proxy)?.stderr ?? ""
        #expect(log.contains("-w 4 ignored"))
        #expect(log.contains("vsock-proxy 8002 vsock:any:8002 -> tcp:svc.example.test:\(port) (IPv4 only): 1 accepted"), "\(log)")

        // Another port of a listed host, and an unlisted host: refused before listening.
        for (address, remotePort) in [("svc.example.test", port &+ 1), ("evil.example.test", port)] {
            let refused = try Sandbox.startParent(["vsock-proxy", "8003", address, "\(remotePort)", "--config", allowlist],
                                                  hostsFile: hosts, environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
            let result = refused.wait(timeout: .seconds(10))
            #expect(result?.status == 78)
            #expect(result?.stderr.contains("\(address):\(remotePort) is not in the allowlist \(allowlist)") == true, "\(result?.stderr ?? "")")
            #expect(!FileManager.default.fileExists(atPath: "\(vsock)/3-8003"))
        }
    }

    @Test func serveChecksEveryRemoteOfTheBootJSONAgainstTheAllowlist() throws {
        let config = try scratch.write("boot.json", """
            {"version": 1, "hosts": [{"names": ["kms.us-east-1.amazonaws.com"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000},
                                     {"names": ["s3.amazonaws.com"], "address": "127.0.0.3", "port": 443, "vsock_port": 8001}]}
            """)
        let allowlist = try scratch.write("allow.yaml", "allowlist:\n  - {address: kms.us-east-1.amazonaws.com, port: 443}\n")
        let parent = try Sandbox.startParent(["--config", config, "--allowlist", allowlist], hostsFile: try parentHosts(""),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let result = parent.wait(timeout: .seconds(10))
        #expect(result?.status == 78)
        #expect(result?.stderr.contains("hosts[1].remote: s3.amazonaws.com:443 is not in the allowlist") == true, "\(result?.stderr ?? "")")
        #expect(result?.stderr.contains("hosts[0]") == false)
    }

    /// --enclave-name: the CID comes from `nitro-cli describe-enclaves` (a fake one on PATH).
    @Test func ingressFindsTheEnclaveByNameWithNitroCLI() throws {
        let bin = scratch.path + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let calls = scratch.path + "/nitro-cli-calls"
        let fake = try scratch.write("bin/nitro-cli", """
            #!/bin/sh
            echo "$@" >> \(calls)
            cat <<'JSON'
            [{"EnclaveName": "other", "EnclaveID": "i-0-enc-1", "EnclaveCID": 21, "State": "RUNNING"},
             {"EnclaveName": "demo", "EnclaveID": "i-0-enc-2", "EnclaveCID": 17, "State": "RUNNING", "Flags": "NONE"}]
            JSON
            """)
        chmod(fake, 0o755)
        // The enclave side stand-in: an upper-casing server on the emulated vsock 17:5000.
        let enclaveSide = try SpawnedProcess("/usr/bin/socat", ["UNIX-LISTEN:\(vsock)/17-5000,fork", "EXEC:tr a-z A-Z"])
        defer { kill(enclaveSide.pid, SIGKILL) }
        let ingressPort = try BlockingSocket.freePort(), missingPort = try BlockingSocket.freePort()
        let config = try scratch.write("boot.json", """
            {"version": 1, "ingress": [{"vsock_port": 5000, "port": 8080, "host_port": \(ingressPort)}]}
            """)
        let environment = ["ENCLAVE_INIT_VSOCK_DIR": vsock, "PATH": bin + ":" + Sandbox.baseEnvironment["PATH"]!]
        let parent = try Sandbox.startParent(["--config", config, "--enclave-name", "demo", "--ingress-bind", "127.0.0.1"],
                                             hostsFile: try parentHosts(""), environment: environment)
        defer { kill(parent.pid, SIGKILL) }
        #expect(eventually { parent.stderrSoFar.contains("listening:") && FileManager.default.fileExists(atPath: "\(vsock)/17-5000") })
        for round in 0..<3 {
            let reply = try ProcessRunner.run("/usr/bin/socat", ["-t", "5", "-", "TCP:127.0.0.1:\(ingressPort)"], stdin: "named \(round)")
            #expect(reply.stdout == "NAMED \(round)", "\(reply.output)\n\(parent.stderrSoFar)")
        }
        // Three connections within the cache time: nitro-cli ran once.
        #expect(file("nitro-cli-calls") == "describe-enclaves\n")
        let log = stop(parent)?.stderr ?? ""
        #expect(log.contains("ingress \(ingressPort) tcp:127.0.0.1:\(ingressPort) -> vsock:<enclave demo>:5000: 3 accepted"), "\(log)")

        // A name nitro-cli does not know: the connection closes, and the log says what runs.
        let config2 = try scratch.write("boot2.json", """
            {"version": 1, "ingress": [{"vsock_port": 5000, "port": 8080, "host_port": \(missingPort)}]}
            """)
        let lost = try Sandbox.startParent(["--config", config2, "--enclave-name", "prod", "--ingress-bind", "127.0.0.1"],
                                           hostsFile: try parentHosts(""), environment: environment)
        defer { kill(lost.pid, SIGKILL) }
        #expect(eventually { lost.stderrSoFar.contains("listening:") })
        let reply = try ProcessRunner.run("/usr/bin/socat", ["-t", "5", "-", "TCP:127.0.0.1:\(missingPort)"], stdin: "hello")
        #expect(reply.stdout.isEmpty)
        let lostLog = stop(lost)?.stderr ?? ""
        #expect(lostLog.contains("no enclave named prod (running: other, demo)"), "\(lostLog)")
    }

    /// Under the vsock emulation the enclave is CID 16 unless told otherwise, as for `parent
    /// stop`: ingress without --enclave-cid reaches the enclave's listener there. (Without the
    /// emulation there is no default; the rule's unit test shows that, as no test here may
    /// touch real vsock.)
    @Test func ingressUnderTheEmulationReachesTheEnclavesDefaultCID() throws {
        let port = 18_500 + Int.random(in: 0..<100)
        let config = try scratch.write("boot.json", #"{"version": 1, "ingress": [{"vsock_port": 5000, "port": 8080, "host_port": \#(port)}]}"#)
        let enclave = try BlockingSocket.listen(unixPath: vsock + "/16-5000")
        let parent = try Sandbox.startParent(["--config", config, "--ingress-bind", "127.0.0.1"], hostsFile: try parentHosts(""),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        #expect(eventually { parent.stderrSoFar.contains("listening:") }, "\(parent.stderrSoFar)")
        let client = try BlockingSocket.connect(port: UInt16(port))
        try client.writeAll(Array("through ingress".utf8))
        let accepted = try enclave.accept()
        accepted.setReceiveTimeout(seconds: 5)
        #expect(String(decoding: try accepted.read(upTo: 15), as: UTF8.self) == "through ingress")
        let log = stop(parent)?.stderr ?? ""
        #expect(log.contains("vsock:16:5000"), "\(log)")
    }
}

enum ParentScripts {
    /// Fetches id.txt from both test names, then becomes the upper-casing ingress server.
    static let fetchThenServe = #"""
    import os, sys, urllib.request
    out, upper, ready = sys.argv[1], sys.argv[2], sys.argv[3]
    for name in ["api.example.test", "store.example.test"]:
        body = urllib.request.urlopen(f"http://{name}/id.txt", timeout=10).read().decode()
        open(f"{out}/{name}", "w").write(body)
    os.execv(sys.executable, [sys.executable, upper, "8080", ready])
    """#
}
