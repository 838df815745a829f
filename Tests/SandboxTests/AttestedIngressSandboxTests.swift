import Foundation
import Testing
import TestSupport

/// The attested ingress (`ingress[].tls`), both halves ours: enclave-init as PID 1 in fresh
/// namespaces terminates TLS, `enclave-init parent` on the machine's loopback carries the
/// ciphertext, the NSM is the KMS tests' stand-in over ENCLAVE_INIT_NSM_SOCKET (its documents
/// are unsigned: verify runs with --allow-unsigned, as against QEMU's machine). The clients are
/// nobody's here: curl, Python's ssl, Node's https and http2, Java's HttpClient, Go's net/http,
/// openssl s_client; the HTTP/2 app is Node's own h2c server.
@Suite(.serialized) struct AttestedIngressSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String
    static let peers = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("standins/tls").path
    static let nsmStandin = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("standins/kms_standin.py").path

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    /// A running pair: the NSM stand-in, the parent half and the enclave whose app serves
    /// `id.txt` over HTTP/1.1 on 8080 (ingress[0], alpn http/1.1) and answers HTTP/2 on 8081
    /// (ingress[1], alpn h2). Stopped by `stop`.
    struct Running {
        var nsm: SpawnedProcess
        var parent: SpawnedProcess
        var enclave: SpawnedProcess
        var initPID: pid_t
        var http1: UInt16
        var http2: UInt16
        var certificate: String
        /// ingress[1]'s: every ingress has a key and certificate of its own.
        var certificate2: String
    }

    private func boot() throws -> Running {
        let nsm = try SpawnedProcess(KMSSandboxTests.python, [Self.nsmStandin, "nsm", scratch.path + "/nsm.sock"])
        // The boot measures its config with the NSM first thing: the stand-in listens before it starts.
        try #require(eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: scratch.path + "/nsm.sock") }, "\(nsm.stderrSoFar)")
        let http1 = try BlockingSocket.freePort(), http2 = try BlockingSocket.freePort()
        let certificate = scratch.path + "/tls/app.pem", certificate2 = scratch.path + "/tls/h2.pem"
        let config = try scratch.write("boot.json", """
            {"version": 1,
             "ingress": [{"vsock_port": 5443, "port": 8080, "host_port": \(http1),
                          "tls": {"names": ["app.test", "www.app.test"], "alpn": ["http/1.1"], "certificate_file": "\(certificate)"}},
                         {"vsock_port": 5444, "port": 8081, "host_port": \(http2), "tls": {"names": ["app.test"], "alpn": ["h2"], "certificate_file": "\(certificate2)"}}]}
            """)
        let site = scratch.path + "/site"
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        try "hello over tls".write(toFile: site + "/id.txt", atomically: true, encoding: .utf8)
        let parent = try Sandbox.startParent(["--config", config, "--enclave-cid", "16", "--ingress-bind", "127.0.0.1"],
                                             hostsFile: try Sandbox.privateHostsFile(), environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let app = "node \(Self.peers)/h2c_server.js 8081 & exec /usr/bin/python3 -m http.server 8080 --bind 127.0.0.1 --directory \(site)"
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", app],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock, "ENCLAVE_INIT_NSM_SOCKET": scratch.path + "/nsm.sock"])
        let initPID = try #require(Sandbox.initPID(of: enclave, .pid1))
        let running = Running(nsm: nsm, parent: parent, enclave: enclave, initPID: initPID, http1: http1, http2: http2, certificate: certificate,
                              certificate2: certificate2)
        let up = eventually(timeout: .seconds(20)) {
            FileManager.default.fileExists(atPath: certificate) && FileManager.default.fileExists(atPath: certificate2)
                && ((try? ProcessRunner.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "--cacert", certificate, "--resolve", "app.test:\(http1):127.0.0.1",
                                                              "https://app.test:\(http1)/id.txt"]))?.status == 0)
                && ((try? ProcessRunner.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-k", "--http2", "https://127.0.0.1:\(http2)/"]))?.status == 0)
        }
        try #require(up, "\(enclave.stderrSoFar)\n\(parent.stderrSoFar)")
        return running
    }

    private func stop(_ running: Running) -> (enclave: ProcessResult?, parent: ProcessResult?) {
        kill(running.initPID, SIGTERM)
        let enclave = running.enclave.wait(timeout: .seconds(20))
        kill(running.parent.pid, SIGTERM)
        let parent = running.parent.wait(timeout: .seconds(10))
        kill(running.nsm.pid, SIGKILL)
        _ = running.nsm.wait(timeout: .seconds(5))
        return (enclave, parent)
    }

    private func curl(_ arguments: [String]) throws -> ProcessResult {
        try ProcessRunner.run("/usr/bin/curl", ["-s", "-m", "10"] + arguments)
    }

    @Test func unmodifiedClientsReachTheAppOverTLSAndTheParentCarriesOnlyCiphertext() throws {
        let running = try boot()
        defer { kill(running.parent.pid, SIGKILL); kill(running.nsm.pid, SIGKILL) }
        let (h1, h2, ca, ca2) = (running.http1, running.http2, running.certificate, running.certificate2)
        let resolve = ["--resolve", "app.test:\(h1):127.0.0.1", "--resolve", "app.test:\(h2):127.0.0.1"]
        #expect(try String(contentsOfFile: ca, encoding: .utf8) != String(contentsOfFile: ca2, encoding: .utf8), "each ingress has its own")

        // The chain the app may read is the certificate alone, for both names; never a key.
        let pem = try String(contentsOfFile: ca, encoding: .utf8)
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----") && !pem.contains("PRIVATE KEY"), "\(pem)")
        let text = try ProcessRunner.run("/usr/bin/openssl", ["x509", "-in", ca, "-noout", "-ext", "subjectAltName"])
        #expect(text.stdout.contains("DNS:app.test, DNS:www.app.test"), "\(text.output)")

        // curl: HTTP/1.1 on ingress[0]; HTTP/2 (ALPN h2) through to Node's h2c app on ingress[1].
        // (Python's http.server answers HTTP/1.0 whatever the client asked.)
        let one = try curl(resolve + ["--cacert", ca, "-w", " %{http_version}", "https://app.test:\(h1)/id.txt"])
        #expect(one.stdout == "hello over tls 1", "\(one.output)")
        let two = try curl(resolve + ["--cacert", ca2, "--http2", "-w", " %{http_version}", "https://app.test:\(h2)/two"])
        #expect(two.stdout == "h2 /two 2", "\(two.output)")
        // The wrong name fails curl's check: the certificate names app.test and www.app.test only.
        let wrong = try curl(["--resolve", "other.test:\(h1):127.0.0.1", "--cacert", ca, "https://other.test:\(h1)/id.txt"])
        #expect(wrong.status == 60, "\(wrong.output)")

        // Python's ssl and http.client.
        let python = try ProcessRunner.run("/usr/bin/python3", [Self.peers + "/tls_peers.py", "get", "\(h1)", "www.app.test", ca, "id.txt"])
        #expect(python.stdout == "200 TLSv1.3 http/1.1 hello over tls\n", "\(python.output)")

        // Node's https (HTTP/1.1, offering no ALPN) and http2.
        let nodeHTTPS = try ProcessRunner.run("/usr/bin/env", ["node", Self.peers + "/client.js", "https", "\(h1)", "app.test", ca, "id.txt"])
        #expect(nodeHTTPS.stdout == "200 none hello over tls\n", "\(nodeHTTPS.output)")
        let nodeH2 = try ProcessRunner.run("/usr/bin/env", ["node", Self.peers + "/client.js", "h2", "\(h2)", "app.test", ca2, "node"])
        #expect(nodeH2.stdout == "200 h2 h2 /node\n", "\(nodeH2.output)")

        // Java's HttpClient: h2 where the ingress offers it, HTTP/1.1 where it does not.
        let java = try javaClient([ca, ca2])
        let javaOne = try ProcessRunner.run("/usr/bin/env", java + ["https://app.test:\(h1)/id.txt"])
        #expect(javaOne.stdout == "200 HTTP_1_1 hello over tls\n", "\(javaOne.output)")
        let javaTwo = try ProcessRunner.run("/usr/bin/env", java + ["https://app.test:\(h2)/java"])
        #expect(javaTwo.stdout == "200 HTTP_2 h2 /java\n", "\(javaTwo.output)")

        // Go's net/http, its own TLS stack and HTTP/2.
        let go = try goClient()
        let goOne = try ProcessRunner.run(go, ["https://app.test:\(h1)/id.txt", ca])
        #expect(goOne.stdout == "200 HTTP/1.0 hello over tls\n", "\(goOne.output)")
        let goTwo = try ProcessRunner.run(go, ["https://app.test:\(h2)/go", ca2])
        #expect(goTwo.stdout == "200 HTTP/2.0 h2 /go\n", "\(goTwo.output)")

        // openssl s_client: TLS 1.3, the names, the ALPN the ingress chose.
        let sclient = try ProcessRunner.run("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(h1)", "-servername", "app.test",
                                                                 "-alpn", "h2,http/1.1", "-CAfile", ca, "-verify_return_error"], stdin: "")
        #expect(sclient.output.contains("New, TLSv1.3") && sclient.output.contains("ALPN protocol: http/1.1")
                && sclient.output.contains("Verify return code: 0 (ok)"), "\(sclient.output)")

        // What the parent carries is TLS: plaintext HTTP gets no HTTP answer from the ingress.
        let plain = try curl(["-w", "%{http_code}", "http://127.0.0.1:\(h1)/id.txt"])
        #expect(plain.stdout == "000" && !plain.stdout.contains("hello"), "\(plain.output)")

        let (enclave, parent) = stop(running)
        Sandbox.expectEnded(enclave, .pid1, withCode: 143)
        let log = enclave?.stderr ?? ""
        #expect(log.contains("ingress[0] tls: serving a self-signed certificate until"), "\(log)")
        #expect(log.contains("ingress[0] tls 5443 -> tcp:127.0.0.1:8080"), "\(log)")
        #expect(!log.contains("PRIVATE KEY") && !log.contains("BEGIN"), "\(log)")
        #expect(parent?.status == 0, "\(parent?.stderr ?? "")")
    }

    @Test func verifyBindsTheCertificateAndNamesAManInTheMiddle() throws {
        let running = try boot()
        defer { kill(running.parent.pid, SIGKILL); kill(running.nsm.pid, SIGKILL) }
        // Through the parent half: the binding holds; the fingerprint to pin is the certificate's key's.
        let verified = try ProcessRunner.enclaveInit(["verify", "https://127.0.0.1:\(running.http1)", "--allow-unsigned", "--allow-debug", "--max-age", "60"])
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.stdout.contains("ok   tls binding: user_data names the public key of the certificate this TLS connection presented"), "\(verified.output)")
        #expect(verified.stdout.contains("ok   nonce: "), "\(verified.output)")
        let key = try ProcessRunner.run("/bin/sh", ["-c", "openssl x509 -in \(running.certificate) -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum"])
        let digest = String(key.stdout.prefix(64))
        #expect(digest.count == 64 && verified.stdout.contains("public key sha256 \(digest) (pin: curl --pinnedpubkey sha256//"), "\(verified.output)\n\(key.output)")

        // curl pins the key verify printed, with no CA at all.
        let pin = try #require(verified.stdout.split(separator: "\n").first { $0.contains("--pinnedpubkey") }?.split(separator: " ").last)
        let pinned = try curl(["-k", "--pinnedpubkey", String(pin.dropLast()), "https://127.0.0.1:\(running.http1)/id.txt"])
        #expect(pinned.stdout == "hello over tls", "\(pinned.output)")

        // A parent that puts its own TLS server in front: the document is the enclave's and fresh
        // (the man in the middle asks the real ingress for it), but it names another key.
        let mitmPort = try BlockingSocket.freePort()
        let mitm = try SpawnedProcess("/usr/bin/python3", [Self.peers + "/tls_peers.py", "mitm", "\(mitmPort)", "\(running.http1)", scratch.path])
        defer { kill(mitm.pid, SIGKILL) }
        #expect(eventually(timeout: .seconds(10)) { mitm.stdoutSoFar.contains("listening") }, "\(mitm.stderrSoFar)")
        let fooled = try curl(["-k", "https://127.0.0.1:\(mitmPort)/id.txt"])
        #expect(fooled.stdout == "hello over tls", "the stand-in relays the app: \(fooled.output)")
        let caught = try ProcessRunner.enclaveInit(["verify", "https://127.0.0.1:\(mitmPort)", "--allow-unsigned", "--allow-debug"])
        #expect(caught.status == 68, "\(caught.output)")
        #expect(caught.stdout.contains("FAIL tls binding: the document binds the TLS key \(digest), but the server presented a certificate whose key is"), "\(caught.output)")
        #expect(caught.stdout.contains("a man in the middle"), "\(caught.output)")

        // The README's Python client (ssl, cbor2, cryptography) agrees on both.
        let example = try readmeExample()
        let python = KMSSandboxTests.python
        let bound = try ProcessRunner.run(python, [example, "127.0.0.1", "\(running.http1)", String(repeating: "aa", count: 48)],
                                          environment: ["ALLOW_UNSIGNED": "1", "PATH": "/usr/bin:/bin"])
        #expect(bound.status == 0 && bound.stdout.contains("binding: this TLS key is the enclave's; pin sha256//\(String(pin.dropLast()).dropFirst(8))"),
                "\(bound.output)")
        let wrongImage = try ProcessRunner.run(python, [example, "127.0.0.1", "\(running.http1)", String(repeating: "bb", count: 48)],
                                               environment: ["ALLOW_UNSIGNED": "1", "PATH": "/usr/bin:/bin"])
        #expect(wrongImage.status == 1 && wrongImage.stderr.contains("PCR0 is aaaa"), "\(wrongImage.output)")
        let fooledPython = try ProcessRunner.run(python, [example, "127.0.0.1", "\(mitmPort)"], environment: ["ALLOW_UNSIGNED": "1", "PATH": "/usr/bin:/bin"])
        #expect(fooledPython.status == 1 && fooledPython.stderr.contains("a man in the middle"), "\(fooledPython.output)")
        // Without ALLOW_UNSIGNED it refuses the stand-in's unsigned document.
        let unsigned = try ProcessRunner.run(python, [example, "127.0.0.1", "\(running.http1)"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(unsigned.status != 0 && !unsigned.stdout.contains("binding:"), "\(unsigned.output)")

        _ = stop(running)
    }

    @Test func aStopEndsOpenTLSConnectionsWithCloseNotify() throws {
        let running = try boot()
        defer { kill(running.parent.pid, SIGKILL); kill(running.nsm.pid, SIGKILL) }
        let ready = scratch.path + "/holding"
        let holder = try SpawnedProcess("/usr/bin/python3", [Self.peers + "/tls_peers.py", "hold", "\(running.http1)", "app.test", running.certificate, ready])
        #expect(eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: ready) }, "\(holder.stderrSoFar)")
        let (enclave, _) = stop(running)
        Sandbox.expectEnded(enclave, .pid1, withCode: 143)
        let ended = holder.wait(timeout: .seconds(10))
        #expect(ended?.stdout == "close_notify\n", "\(ended?.output ?? "the client did not end")")
    }

    /// The README example's `check_signature` on a real AWS document, at its own time (its
    /// certificates lived three hours), and on the same document with one byte of a PCR changed.
    @Test func theReadmeExampleChecksAWSsSignatureOnARealDocument() throws {
        let example = try readmeExample()
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../VerifierTests/fixtures/aws-2022-10-signed.cbor").path
        let check = """
            import datetime, sys
            sys.path.insert(0, sys.argv[1])
            import cbor2, check_enclave_tls as example
            raw = bytearray(open(sys.argv[2], "rb").read())
            outer = cbor2.loads(bytes(raw))
            parts = list(outer.value if isinstance(outer, cbor2.CBORTag) else outer)
            payload = cbor2.loads(parts[2])
            at = datetime.datetime.fromtimestamp(payload["timestamp"] / 1000, datetime.timezone.utc)
            example.check_signature(parts, payload, at)
            print("authentic")
            pcrs = dict(payload["pcrs"])
            pcrs[0] = bytes([pcrs[0][0] ^ 1]) + pcrs[0][1:]
            tampered = dict(payload, pcrs=pcrs)
            parts[2] = cbor2.dumps(tampered)
            try:
                example.check_signature(parts, tampered, at)
                print("tampered accepted")
            except Exception as error:
                print("tampered refused:", type(error).__name__)
            try:
                example.check_signature(list(outer.value if isinstance(outer, cbor2.CBORTag) else outer), payload, datetime.datetime.now(datetime.timezone.utc))
                print("expired accepted")
            except ValueError as error:
                print("today:", error)
            """
        let result = try ProcessRunner.run(KMSSandboxTests.python, ["-c", check, scratch.path, fixture])
        #expect(result.stdout.hasPrefix("authentic\ntampered refused: InvalidSignature\ntoday: a certificate of the chain is not valid at"), "\(result.output)")
    }

    /// The README's Python example, as the README prints it (an indented block).
    private func readmeExample() throws -> String {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md").path
        let lines = try String(contentsOfFile: readme, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.hasPrefix("    # check_enclave_tls.py") }) - 1
        var block: [Substring] = []
        for line in lines[start...] {
            guard line.isEmpty || line.hasPrefix("    ") else { break }
            block.append(line.dropFirst(min(4, line.count)))
        }
        return try scratch.write("check_enclave_tls.py", block.joined(separator: "\n") + "\n")
    }

    /// Java's HttpClient, run from source (JDK 11+), trusting the ingress's certificate only and
    /// resolving app.test from a hosts file of its own.
    private func javaClient(_ certificates: [String]) throws -> [String] {
        let store = scratch.path + "/trust.p12", hosts = try scratch.write("java-hosts", "127.0.0.1 app.test\n")
        for (index, certificate) in certificates.enumerated() {
            let imported = try ProcessRunner.run("/usr/bin/env", ["keytool", "-importcert", "-noprompt", "-alias", "ingress\(index)", "-file", certificate,
                                                                  "-keystore", store, "-storetype", "PKCS12", "-storepass", "changeit"])
            try #require(imported.status == 0, "keytool (a JDK, installed by scripts/install-deps): \(imported.output)")
        }
        return ["java", "-Djavax.net.ssl.trustStore=\(store)", "-Djavax.net.ssl.trustStorePassword=changeit", "-Djdk.net.hosts.file=\(hosts)",
                Self.peers + "/TlsClient.java"]
    }

    /// Go's client, built once per run (its build cache lives outside the clone).
    private func goClient() throws -> String {
        let cache = "/var/cache/enclave-init-tests"
        let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": cache, "GOCACHE": cache + "/go-build",
                           "GOPATH": cache + "/go", "CGO_ENABLED": "0"]
        let binary = scratch.path + "/tls-client-go"
        let built = try ProcessRunner.run("/usr/bin/env", ["go", "build", "-o", binary, Self.peers + "/client.go"], environment: environment)
        try #require(built.status == 0, "go build (golang-go, installed by scripts/install-deps): \(built.output)")
        return binary
    }
}
