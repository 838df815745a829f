import Foundation
import Testing
import TestSupport

/// The attested ingress's certificate from a real ACME server: Debian's pebble (Let's Encrypt's
/// test CA), on the machine's loopback beside the parent half, validating app.test with a real
/// TLS-ALPN-01 challenge: its DNS (dnsmasq) sends it to the parent's ingress port, the parent to
/// the enclave, where enclave-init answers it. The enclave reaches pebble through a hosts[]
/// mapping, as the app would. The clients that check the chain against pebble's root are curl,
/// openssl s_client and Python's ssl.
@Suite(.serialized) struct ACMESandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    private func openssl(_ arguments: [String]) throws {
        let result = try ProcessRunner.run("/usr/bin/openssl", arguments)
        try #require(result.status == 0, "openssl \(arguments.joined(separator: " ")): \(result.output)")
    }

    /// A CA of the test's own and a certificate from it for acme.test: pebble's directory speaks
    /// HTTPS with it, and the enclave trusts that CA (acme.ca_file).
    private func directoryCertificate() throws -> (ca: String, certificate: String, key: String) {
        let directory = scratch.path
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", directory + "/ca.key",
                     "-out", directory + "/ca.pem", "-days", "2", "-subj", "/CN=test ACME directory CA"])
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", directory + "/directory.key",
                     "-out", directory + "/directory.csr", "-subj", "/CN=acme.test"])
        let extensions = try scratch.write("san.cnf", "subjectAltName=DNS:acme.test\n")
        try openssl(["x509", "-req", "-in", directory + "/directory.csr", "-CA", directory + "/ca.pem", "-CAkey", directory + "/ca.key",
                     "-CAcreateserial", "-out", directory + "/directory.pem", "-days", "2", "-extfile", extensions])
        return (directory + "/ca.pem", directory + "/directory.pem", directory + "/directory.key")
    }

    struct CA {
        var pebble: SpawnedProcess
        var dns: SpawnedProcess
        var directoryPort: UInt16
        var managementPort: UInt16
    }

    /// dnsmasq answering app.test with 127.0.0.1, and pebble whose TLS-ALPN-01 validation dials
    /// app.test:`challengePort` (the parent's ingress), issuing certificates valid `validity` s.
    private func startCA(challengePort: UInt16, validity: Int) throws -> CA {
        let (_, certificate, key) = try directoryCertificate()
        let dnsPort = try BlockingSocket.freePort(), directoryPort = try BlockingSocket.freePort(), managementPort = try BlockingSocket.freePort(), httpPort = try BlockingSocket.freePort()
        let dns = try SpawnedProcess("/usr/sbin/dnsmasq", ["--keep-in-foreground", "--port=\(dnsPort)", "--listen-address=127.0.0.1", "--bind-interfaces",
                                                          "--no-resolv", "--no-hosts", "--address=/app.test/127.0.0.1", "--pid-file=", "--user=root"])
        let config = try scratch.write("pebble.json", """
            {"pebble": {"listenAddress": "127.0.0.1:\(directoryPort)", "managementListenAddress": "127.0.0.1:\(managementPort)",
             "certificate": "\(certificate)", "privateKey": "\(key)", "httpPort": \(httpPort), "tlsPort": \(challengePort),
             "ocspResponderURL": "", "externalAccountBindingRequired": false, "certificateValidityPeriod": \(validity)}}
            """)
        let pebble = try SpawnedProcess("/usr/bin/pebble", ["-config", config, "-dnsserver", "127.0.0.1:\(dnsPort)"],
                                        environment: ["PEBBLE_VA_NOSLEEP": "1", "PATH": "/usr/bin:/bin"])
        try #require(eventually(timeout: .seconds(10)) { (try? BlockingSocket.connect(port: directoryPort)) != nil }, "\(pebble.stderrSoFar)")
        return CA(pebble: pebble, dns: dns, directoryPort: directoryPort, managementPort: managementPort)
    }

    private func config(ingressPort: UInt16, directoryPort: UInt16, certificateFile: String, untilIssued: String = "self-signed") throws -> String {
        try scratch.write("boot.json", """
            {"version": 1,
             "hosts": [{"names": ["acme.test"], "address": "127.0.0.20", "port": \(directoryPort), "vsock_port": 8300}],
             "status": {"vsock_port": 9101},
             "ingress": [{"vsock_port": 5443, "port": 8080, "host_port": \(ingressPort),
                          "tls": {"names": ["app.test"], "certificate": "acme", "certificate_file": "\(certificateFile)",
                                  "acme": {"directory": "https://acme.test:\(directoryPort)/dir", "ca_file": "\(scratch.path)/ca.pem",
                                           "contact": ["mailto:ops@app.test"], "until_issued": "\(untilIssued)"}}}]}
            """)
    }

    private func site() throws -> String {
        let site = scratch.path + "/site"
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        try "hello from the enclave".write(toFile: site + "/id.txt", atomically: true, encoding: .utf8)
        return site
    }

    private func issuer(_ file: String) -> String {
        (try? ProcessRunner.run("/usr/bin/openssl", ["x509", "-in", file, "-noout", "-issuer", "-serial"]))?.stdout ?? ""
    }

    @Test func pebbleIssuesAndRenewsWhileConnectionsKeepFlowing() throws {
        let ingressPort = try BlockingSocket.freePort()
        let ca = try startCA(challengePort: ingressPort, validity: 24)
        defer { kill(ca.pebble.pid, SIGKILL); kill(ca.dns.pid, SIGKILL) }
        let certificateFile = scratch.path + "/tls/app.pem"
        let config = try config(ingressPort: ingressPort, directoryPort: ca.directoryPort, certificateFile: certificateFile)
        let parent = try Sandbox.startParent(["--config", config, "--enclave-cid", "16", "--ingress-bind", "127.0.0.1"],
                                             hostsFile: try scratch.write("parent-hosts", "127.0.0.1 localhost acme.test\n"),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        defer { kill(parent.pid, SIGKILL) }
        let nsm = try SpawnedProcess(KMSSandboxTests.python, [AttestedIngressSandboxTests.nsmStandin, "nsm", scratch.path + "/nsm.sock"])
        defer { kill(nsm.pid, SIGKILL) }
        try #require(eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: scratch.path + "/nsm.sock") }, "\(nsm.stderrSoFar)")
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/usr/bin/python3", "-m", "http.server", "8080", "--bind", "127.0.0.1",
                                                "--directory", try site()],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock, "ENCLAVE_INIT_NSM_SOCKET": scratch.path + "/nsm.sock"])
        let initPID = try #require(Sandbox.initPID(of: enclave, .pid1))
        #expect(eventually(timeout: .seconds(30)) { issuer(certificateFile).contains("Pebble Intermediate CA") },
                "\(enclave.stderrSoFar)\n\(ca.pebble.stderrSoFar)")
        let first = issuer(certificateFile)

        // Pebble's root is made at its start; the management port hands it out.
        let root = scratch.path + "/pebble-root.pem"
        let fetched = try ProcessRunner.run("/usr/bin/curl", ["-s", "-k", "-o", root, "https://127.0.0.1:\(ca.managementPort)/roots/0"])
        try #require(fetched.status == 0, "\(fetched.output)")
        let resolve = ["--resolve", "app.test:\(ingressPort):127.0.0.1"]
        let viaCurl = try ProcessRunner.run("/usr/bin/curl", ["-s", "-m", "10", "--cacert", root] + resolve + ["https://app.test:\(ingressPort)/id.txt"])
        #expect(viaCurl.stdout == "hello from the enclave", "\(viaCurl.output)")
        let sclient = try ProcessRunner.run("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(ingressPort)", "-servername", "app.test",
                                                                 "-CAfile", root, "-verify_return_error", "-verify_hostname", "app.test"], stdin: "")
        #expect(sclient.output.contains("Verify return code: 0 (ok)") && sclient.output.contains("Pebble Intermediate CA"), "\(sclient.output)")
        let python = try ProcessRunner.run("/usr/bin/python3", [AttestedIngressSandboxTests.peers + "/tls_peers.py", "get", "\(ingressPort)", "app.test", root, "id.txt"])
        #expect(python.stdout.hasPrefix("200 TLSv1.3") && python.stdout.hasSuffix("hello from the enclave\n"), "\(python.output)")
        let keyBefore = try ProcessRunner.enclaveInit(["verify", "https://127.0.0.1:\(ingressPort)", "--allow-unsigned", "--allow-debug"])
        #expect(keyBefore.status == 0, "\(keyBefore.output)")

        // Renewal at two thirds of 24 s, while a client connects every 100 ms: none fails.
        var attempts = 0, failures: [String] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline && issuer(certificateFile) == first {
            let result = try ProcessRunner.run("/usr/bin/curl", ["-s", "-m", "5", "--cacert", root] + resolve + ["https://app.test:\(ingressPort)/id.txt"])
            attempts += 1
            if result.stdout != "hello from the enclave" { failures.append(result.output) }
            usleep(100_000)
        }
        let renewed = issuer(certificateFile)
        #expect(renewed != first && renewed.contains("Pebble Intermediate CA"), "not renewed: \(renewed)\n\(enclave.stderrSoFar)")
        #expect(attempts > 10 && failures.isEmpty, "\(failures.count) of \(attempts) failed: \(failures.prefix(3))")
        let served = try ProcessRunner.run("/bin/sh", ["-c", "openssl s_client -connect 127.0.0.1:\(ingressPort) -servername app.test </dev/null 2>/dev/null | openssl x509 -noout -serial"])
        #expect(renewed.contains(served.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "new connections get the new certificate: \(served.output)")
        // The key stays: the binding a client checked before the renewal still holds.
        let keyAfter = try ProcessRunner.enclaveInit(["verify", "https://127.0.0.1:\(ingressPort)", "--allow-unsigned", "--allow-debug"])
        let pin = { (text: String) in text.split(separator: "\n").first { $0.contains("public key sha256") } }
        #expect(keyAfter.status == 0 && pin(keyAfter.stdout) == pin(keyBefore.stdout) && pin(keyBefore.stdout) != nil, "\(keyBefore.stdout)\n\(keyAfter.stdout)")

        kill(initPID, SIGTERM)
        let result = enclave.wait(timeout: .seconds(20))
        Sandbox.expectEnded(result, .pid1, withCode: 143)
        let log = result?.stderr ?? ""
        #expect(log.contains("ACME: app.test validated (TLS-ALPN-01)"), "\(log)")
        #expect(log.contains("ACME challenges"), "\(log)")
        // The status stream carried each certificate: the self-signed one, the first, the renewal.
        let events = parent.stderrSoFar.components(separatedBy: "\"event\":\"tls_certificate\"").count - 1
        #expect(events >= 3, "\(parent.stderrSoFar)")
        #expect(parent.stderrSoFar.contains("\"source\":\"acme\""), "\(parent.stderrSoFar)")
    }

    @Test func anUnreachableCAIsRetriedWithBackoffAndRefuseMeansNoHandshake() throws {
        let ingressPort = try BlockingSocket.freePort(), nothing = try BlockingSocket.freePort()
        let certificateFile = scratch.path + "/tls/app.pem"
        _ = try directoryCertificate()
        let config = try config(ingressPort: ingressPort, directoryPort: nothing, certificateFile: certificateFile, untilIssued: "refuse")
        let parent = try Sandbox.startParent(["--config", config, "--enclave-cid", "16", "--ingress-bind", "127.0.0.1"],
                                             hostsFile: try scratch.write("parent-hosts", "127.0.0.1 localhost acme.test\n"),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        defer { kill(parent.pid, SIGKILL) }
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/usr/bin/python3", "-m", "http.server", "8080", "--bind", "127.0.0.1",
                                                "--directory", try site()],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let initPID = try #require(Sandbox.initPID(of: enclave, .pid1))
        // The first try fails at once (nothing listens where the parent dials) and is retried in 5 s, then 10 s.
        #expect(eventually(timeout: .seconds(20)) { enclave.stderrSoFar.contains("next try in 10 s") }, "\(enclave.stderrSoFar)")
        #expect(enclave.stderrSoFar.contains("ACME failed: cannot reach the ACME CA"), "\(enclave.stderrSoFar)")
        #expect(enclave.stderrSoFar.contains("next try in 5 s"), "\(enclave.stderrSoFar)")
        // Until a certificate is issued, "refuse": a handshake fails, and nothing reaches the app.
        let refused = try ProcessRunner.run("/usr/bin/curl", ["-s", "-k", "-m", "5", "-w", "%{http_code}", "--resolve", "app.test:\(ingressPort):127.0.0.1",
                                                              "https://app.test:\(ingressPort)/id.txt"])
        #expect(refused.stdout == "000" && refused.status == 35, "\(refused.output)")
        #expect(!FileManager.default.fileExists(atPath: certificateFile))
        #expect(parent.stderrSoFar.contains("\"event\":\"acme_failed\""), "\(parent.stderrSoFar)")
        kill(initPID, SIGTERM)
        Sandbox.expectEnded(enclave.wait(timeout: .seconds(20)), .pid1, withCode: 143)
    }
}
