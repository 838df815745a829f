import Foundation
import Testing
import TestSupport

/// Secrets and the SDK endpoint with both halves ours and the peers not: moto's KMS (its IAM
/// checks verify every SigV4 signature) behind TLS with a test CA, wrapped by a stand-in that
/// answers Recipient with `openssl cms` envelopes to the key in the attestation document; boto3
/// as the app's SDK. The NSM is a stand-in over ENCLAVE_INIT_NSM_SOCKET (this machine has no
/// /dev/nsm; its documents are unsigned and prove nothing, the qemu and nitro tiers are where
/// a device answers). boto3, the AWS CLI (1.x), the AWS SDK for Ruby and the AWS SDK for Java (1.x and 2.x) are the app's clients. Both stand-ins are in standins/kms_standin.py.
@Suite(.serialized) struct KMSSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String
    static let standin = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("standins/kms_standin.py").path

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    /// The python3 that has boto3: scripts/install-deps's venv, else the PATH's (the sandbox's PATH may find another).
    static let python: String = {
        for candidate in [Peers.python, "python3"] {
            let found = try? ProcessRunner.run("/usr/bin/env", [candidate, "-c", "import sys, boto3; print(sys.executable)"])
            if found?.status == 0 { return found!.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        return "/usr/bin/python3"
    }()

    /// The AWS SDK for Ruby that scripts/install-deps unpacks: the file holds its RUBYLIB.
    static let rubySDK = "/var/cache/enclave-init-peers/ruby-aws-sdk/rubylib"
    /// The AWS SDKs for Java (1.x's bundle jar, and 2.x inside SageMaker Feature Store's jar) that
    /// scripts/install-deps fetches, and the apps that use them.
    static let javaSDK = "/var/cache/enclave-init-peers/aws-java-sdk/aws-java-sdk-bundle-1.11.901.jar"
    static let javaSDK2 = "/var/cache/enclave-init-peers/aws-java-sdk2/sagemaker-feature-store-spark-sdk.jar"
    static let javaApp = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("standins/KmsThroughEndpoint.java").path
    static let javaApp2 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("standins/KmsThroughEndpointV2.java").path

    struct KMSInfo {
        var port: Int, ca: String, otherCA: String, accessKeyID: String, secretAccessKey: String, keyID: String
        var ciphertexts: [String: String]
    }

    /// The KMS stand-in (with `knobs` in its environment) and the NSM stand-in, both listening.
    private func standins(plaintexts: String, knobs: [String: String] = [:]) throws -> (KMSInfo, [SpawnedProcess]) {
        _ = try scratch.write("plaintexts.json", plaintexts)
        var environment = ProcessInfo.processInfo.environment
        environment.merge(knobs) { $1 }
        let kms = try SpawnedProcess(Self.python, [Self.standin, "kms", scratch.path], environment: environment)
        let infoPath = scratch.path + "/kms.json"
        #expect(eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: infoPath) }, "\(kms.stderrSoFar)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: infoPath))) as? [String: Any])
        let info = KMSInfo(port: json["port"] as! Int, ca: json["ca"] as! String, otherCA: json["other_ca"] as! String,
                           accessKeyID: json["access_key_id"] as! String, secretAccessKey: json["secret_access_key"] as! String,
                           keyID: json["key_id"] as! String, ciphertexts: json["ciphertexts"] as! [String: String])
        return (info, [kms])
    }

    /// The boot JSON: KMS's name mapped to an alias whose parent side dials the stand-in.
    private func config(_ info: KMSInfo, caFile: String? = nil, proxy: Bool = false, secrets: String) throws -> String {
        try scratch.write("boot.json", """
            {"version": 1,
             "hosts": [{"names": ["kms.us-east-1.amazonaws.com"], "address": "127.0.0.20", "port": 443, "vsock_port": 8020,
                        "remote": "127.0.0.1:\(info.port)"}],
             "kms": {"region": "us-east-1", "credentials": {"vsock_port": 8010}, "ca_file": "\(caFile ?? info.ca)"\(proxy ? #", "proxy": {"port": 9999}"# : "")},
             "secrets": [\(secrets)],
             "app": {"env": {"AWS_ACCESS_KEY_ID": "anything", "AWS_SECRET_ACCESS_KEY": "anything", "AWS_DEFAULT_REGION": "us-east-1"}}}
            """)
    }

    /// `enclave-init parent` with credentials in its environment (or from `imds`).
    private func parent(_ config: String, _ info: KMSInfo, credentials: [String: String]? = nil) throws -> SpawnedProcess {
        let keys = credentials ?? ["AWS_ACCESS_KEY_ID": info.accessKeyID, "AWS_SECRET_ACCESS_KEY": info.secretAccessKey]
        let parent = try Sandbox.startParent(["--config", config], hostsFile: try scratch.write("parent-hosts", "127.0.0.1 localhost\n"),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock].merging(keys) { $1 })
        #expect(eventually(timeout: .seconds(10)) { parent.stderrSoFar.contains("kms credentials vsock:any:8010") }, "\(parent.stderrSoFar)")
        return parent
    }

    /// Boots with the app given; a tmpfs of the sandbox's own is at SCRATCH/run.
    /// One enclave's boot with an NSM of its own (a fresh stand-in: the boot measures its config
    /// into PCR16 and locks it, as each real enclave's NSM starts fresh).
    private func boot(_ config: String, app: [String]) throws -> ProcessResult? {
        let run = scratch.path + "/run"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let nsm = try freshNSM()
        defer { kill(nsm.pid, SIGKILL); _ = nsm.wait(timeout: .seconds(5)) }
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--"] + app,
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock, "ENCLAVE_INIT_NSM_SOCKET": scratch.path + "/nsm.sock"],
                                        prelude: "mount -t tmpfs -o mode=0755 tmpfs \(run)")
        return enclave.wait(timeout: .seconds(60))
    }

    /// A fresh NSM stand-in on scratch/nsm.sock, listening when this returns.
    private func freshNSM() throws -> SpawnedProcess {
        let socket = scratch.path + "/nsm.sock"
        try? FileManager.default.removeItem(atPath: socket)
        let nsm = try SpawnedProcess(Self.python, [Self.standin, "nsm", socket])
        #expect(eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: socket) }, "\(nsm.stderrSoFar)")
        return nsm
    }

    private func stopAll(_ processes: [SpawnedProcess]) -> [ProcessResult?] {
        processes.map { kill($0.pid, SIGTERM); return $0.wait(timeout: .seconds(10)) }
    }

    static let secretsApp = """
        import json, os, stat, sys
        path = sys.argv[2]
        info = os.stat(path)
        json.dump({"env": os.environ.get("DB_PASSWORD"), "file": open(path).read(), "mode": oct(stat.S_IMODE(info.st_mode)),
                   "optional": os.environ.get("MISSING", "absent")}, open(sys.argv[1], "w"))
        """

    @Test func secretsReachTheAppInItsEnvironmentAndAFileOnATmpfs() throws {
        let (info, standins) = try standins(plaintexts: #"{"db": {"plaintext": "hunter2 \u00e9", "context": {"app": "billing"}}, "tls": {"plaintext": "-----BEGIN KEY-----\nabc\n"}}"#)
        defer { _ = stopAll(standins) }
        let file = scratch.path + "/run/secrets/tls.key"
        let config = try config(info, secrets: """
            {"env": "DB_PASSWORD", "ciphertext": "\(info.ciphertexts["db"]!)", "encryption_context": {"app": "billing"}},
            {"file": "\(file)", "ciphertext_file": "\(try scratch.write("tls.kms", info.ciphertexts["tls"]!))", "mode": "0440"},
            {"env": "MISSING", "ciphertext": "\(info.ciphertexts["db"]!)", "required": false}
            """)
        let plan = try ProcessRunner.enclaveInit(["plan", "--config", config, "--", "/bin/true"])
        #expect(plan.status == 0, "\(plan.output)")
        #expect(plan.stdout.contains("secrets[0] -> env DB_PASSWORD from the ciphertext in the boot JSON"), "\(plan.stdout)")
        #expect(!plan.stdout.contains(info.ciphertexts["db"]!))
        let parent = try parent(config, info)
        let out = scratch.path + "/result.json"
        let result = try boot(config, app: ["/usr/bin/python3", "-c", Self.secretsApp, out, file])
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        let log = result?.stderr ?? ""
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: String], "\(log)")
        #expect(answer["env"] == "hunter2 é")
        #expect(answer["file"] == "-----BEGIN KEY-----\nabc\n")
        #expect(answer["mode"] == "0o440")
        // The third has no encryption context, so KMS refuses it: optional, a warning, the app runs.
        #expect(answer["optional"] == "absent")
        #expect(log.contains("step 8/10 secrets: 1 in the environment, 1 in files, 1 optional skipped"), "\(log)")
        #expect(log.contains("secrets[2] (env MISSING): KMS refused (400 InvalidCiphertextException)"), "\(log)")
        // No plaintext and no secret key in either half's log.
        let parentLog = stopAll([parent]).first??.stderr ?? ""
        for text in [log, parentLog] {
            #expect(!text.contains("hunter2") && !text.contains("BEGIN KEY") && !text.contains(info.secretAccessKey), "\(text)")
        }
        #expect(parentLog.contains("kms credentials vsock:any:8010 <- this process's environment"), "\(parentLog)")
    }

    static let boto3App = """
        import base64, json, os, subprocess, sys, boto3
        kms = boto3.client("kms")
        key = sys.argv[2]
        sealed = kms.encrypt(KeyId=key, Plaintext=b"from the app")["CiphertextBlob"]
        opened = kms.decrypt(CiphertextBlob=sealed)
        data_key = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
        again = kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"]
        random = kms.generate_random(NumberOfBytes=24)
        try:
            kms.decrypt(CiphertextBlob=b"\\x01\\x02garbage")
            error = "none"
        except kms.exceptions.ClientError as e:
            error = e.response["Error"]["Code"]
        # The AWS CLI (aws-cli 1.x, python -m awscli), unmodified, through the same endpoint.
        def cli(*arguments):
            return json.loads(subprocess.run([sys.executable, "-m", "awscli", "kms", *arguments, "--output", "json"],
                                             check=True, capture_output=True, text=True).stdout)
        open(sys.argv[1] + ".blob", "wb").write(sealed)
        cli_decrypted = base64.b64decode(cli("decrypt", "--ciphertext-blob", "fileb://" + sys.argv[1] + ".blob")["Plaintext"]).decode()
        cli_random = len(base64.b64decode(cli("generate-random", "--number-of-bytes", "16")["Plaintext"]))
        # The AWS SDK for Ruby (aws-sdk-core 3.x), unmodified: a data key, and Decrypt of its blob.
        ruby_script = '''
        require "aws-sdk-kms"; require "json"
        kms = Aws::KMS::Client.new
        key = kms.generate_data_key(key_id: ARGV[0], key_spec: "AES_256")
        again = kms.decrypt(ciphertext_blob: key.ciphertext_blob).plaintext
        print JSON.generate({"length" => key.plaintext.bytesize, "matches" => again == key.plaintext})
        '''
        ruby = subprocess.run(["/usr/bin/ruby", "-e", ruby_script, key], env=dict(os.environ, RUBYLIB=open(sys.argv[3]).read().strip()),
                              check=True, capture_output=True, text=True)
        # The AWS SDK for Java, 1.x and 2.x, unmodified: a data key, Decrypt of its blob, KMS's error.
        java = subprocess.run(["java", "-cp", sys.argv[4], sys.argv[5], key], check=True, capture_output=True, text=True)
        java2 = subprocess.run(["java", "-cp", sys.argv[6], sys.argv[7], key], check=True, capture_output=True, text=True)
        json.dump({"endpoint": os.environ["AWS_ENDPOINT_URL_KMS"], "cli_decrypted": cli_decrypted, "cli_random": cli_random,
                   "ruby": json.loads(ruby.stdout), "java": json.loads(java.stdout.strip().splitlines()[-1]), "java2": json.loads(java2.stdout.strip().splitlines()[-1]), "decrypted": opened["Plaintext"].decode(),
                   "recipient_field": "CiphertextForRecipient" in opened, "data_key": len(data_key["Plaintext"]),
                   "data_key_matches": again == data_key["Plaintext"], "random": len(random["Plaintext"]), "error": error},
                  open(sys.argv[1], "w"))
        """

    @Test func boto3TheCLIRubysAndJavasSDKsThroughTheSDKEndpointEncryptDecryptAndGetTheirPlaintexts() throws {
        let (info, standins) = try standins(plaintexts: "{}")
        defer { _ = stopAll(standins) }
        // Credentials from IMDSv2 this time (a stand-in on loopback), not the environment.
        let imdsPort = scratch.path + "/imds.port"
        let imds = try SpawnedProcess(Self.python, [Self.standin, "imds", imdsPort],
                                      environment: ProcessInfo.processInfo.environment.merging(["KEY": info.accessKeyID, "SECRET": info.secretAccessKey]) { $1 })
        defer { kill(imds.pid, SIGKILL) }
        #expect(eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: imdsPort) })
        let config = try config(info, proxy: true, secrets: "")
        let parent = try parent(config, info, credentials: ["ENCLAVE_INIT_IMDS_ENDPOINT": "127.0.0.1:\(try String(contentsOfFile: imdsPort, encoding: .utf8))"])
        let out = scratch.path + "/boto3.json"
        for jar in [Self.javaSDK, Self.javaSDK2] {
            try #require(FileManager.default.fileExists(atPath: jar), "\(jar) (the AWS SDK for Java) is missing: run scripts/install-deps")
        }
        let result = try boot(config, app: [Self.python, "-c", Self.boto3App, out, info.keyID, Self.rubySDK, Self.javaSDK, Self.javaApp,
                                             Self.javaSDK2, Self.javaApp2])
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        let log = result?.stderr ?? ""
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any], "\(log)")
        #expect(answer["endpoint"] as? String == "http://127.0.0.1:9999")
        #expect(answer["decrypted"] as? String == "from the app")
        #expect(answer["recipient_field"] as? Bool == false)
        #expect(answer["data_key"] as? Int == 32)
        #expect(answer["data_key_matches"] as? Bool == true)
        #expect(answer["random"] as? Int == 24)
        #expect(answer["error"] as? String == "InvalidCiphertextException", "KMS's own error, as KMS sent it")
        #expect(answer["cli_decrypted"] as? String == "from the app")
        #expect(answer["cli_random"] as? Int == 16)
        let ruby = answer["ruby"] as? [String: Any]
        #expect(ruby?["length"] as? Int == 32 && ruby?["matches"] as? Bool == true, "\(answer)")
        let java = answer["java"] as? [String: Any]
        #expect(java?["length"] as? Int == 32 && java?["matches"] as? Bool == true, "\(answer)")
        #expect(java?["error"] as? String == "InvalidCiphertextException", "\(answer)")
        let java2 = answer["java2"] as? [String: Any]
        #expect(java2?["length"] as? Int == 32 && java2?["matches"] as? Bool == true, "\(answer)")
        #expect(java2?["error"] as? String == "InvalidCiphertextException", "\(answer)")
        let parentLog = stopAll([parent]).first??.stderr ?? ""
        #expect(parentLog.contains("kms credentials: role enclave-role credentials, expiring"), "\(parentLog)")
        #expect(!parentLog.contains(info.secretAccessKey))
    }

    /// The attack on the SDK endpoint's memory: one request, then a local client keeps sending
    /// on the same connection while KMS takes its time. Before, PID 1 kept every byte (13 MB to
    /// 1.9 GB); now the connection is not read while the call is in flight, so the sender soon
    /// blocks, and PID 1's RSS stays where it was.
    static let floodApp = """
        import json, socket, sys, threading, time
        def rss():
            for line in open("/proc/1/status"):
                if line.startswith("VmRSS:"): return int(line.split()[1]) * 1024
        before = rss()
        body = b'{"NumberOfBytes": 16}'
        request = (b"POST / HTTP/1.1\\r\\nHost: 127.0.0.1:9999\\r\\nX-Amz-Target: TrentService.GenerateRandom\\r\\n"
                   b"Content-Type: application/x-amz-json-1.1\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body)) + body
        s = socket.create_connection(("127.0.0.1", 9999))
        s.sendall(request)
        s.settimeout(0.2)
        sent, peak, chunk, deadline = 0, before, b"\\0" * (1 << 20), time.time() + 6
        while sent < (1 << 30) and time.time() < deadline:
            try:
                sent += s.send(chunk)
            except socket.timeout:
                pass
            except OSError:
                break
            peak = max(peak, rss())
        time.sleep(0.5)
        peak = max(peak, rss())
        json.dump({"before": before, "peak": peak, "sent": sent}, open(sys.argv[1], "w"))
        """

    @Test func aClientThatKeepsSendingDuringASlowKMSCallCannotGrowPID1() throws {
        let (info, standins) = try standins(plaintexts: "{}", knobs: ["STANDIN_SLOW_SECONDS": "8"])
        defer { _ = stopAll(standins) }
        let config = try config(info, proxy: true, secrets: "")
        let parent = try parent(config, info)
        defer { kill(parent.pid, SIGKILL) }
        let out = scratch.path + "/flood.json"
        let result = try boot(config, app: [Self.python, "-c", Self.floodApp, out])
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Int],
                                  "\(result?.stderr ?? "")")
        let grown = answer["peak"]! - answer["before"]!
        print("kms endpoint flood: PID 1's RSS \(answer["before"]! >> 10) KiB before, \(answer["peak"]! >> 10) KiB at most, while the client got \(answer["sent"]! >> 10) KiB in")
        // One request's limits (16 KiB head + 256 KiB body) and a read in flight, far from the MBs sent.
        #expect(grown < 8 << 20, "PID 1 grew by \(grown) bytes while the client sent \(answer["sent"]!)")
        #expect(answer["sent"]! < 64 << 20, "the client was not pushed back: \(answer["sent"]!) bytes taken")
    }

    /// A parent that serves a session token with CR LF in it (a stand-in on the credentials
    /// port; the real parent half relays KMS on another config that moves its own credentials
    /// port away): the boot fails at the secrets step naming the field, never its value, and
    /// nothing is sent to KMS. And the real parent half refuses such a token in its own
    /// environment before serving it.
    @Test func aSessionTokenWithCRLFNeverReachesARequest() throws {
        let (info, standins) = try standins(plaintexts: #"{"db": {"plaintext": "hunter2"}}"#)
        defer { _ = stopAll(standins) }
        let secret = #"{"env": "DB_PASSWORD", "ciphertext": "\#(info.ciphertexts["db"]!)"}"#
        let config = try config(info, secrets: secret)
        let parentConfig = try scratch.write("parent.json", try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: #""vsock_port": 8010"#, with: #""vsock_port": 8011"#))
        let hostile = """
            import json, os, socket, sys
            s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
            while True:
                c, _ = s.accept()
                c.sendall(json.dumps({"AccessKeyId": sys.argv[2], "SecretAccessKey": sys.argv[3],
                                      "Token": "IQoJ\\r\\nX-Amz-Target: TrentService.Verify\\r\\n\\r\\nPOST / HTTP/1.1"}).encode()); c.close()
            """
        let credentials = try SpawnedProcess("/usr/bin/env", ["python3", "-c", hostile, vsock + "/3-8010", info.accessKeyID, info.secretAccessKey])
        defer { kill(credentials.pid, SIGKILL) }
        #expect(eventually { FileManager.default.fileExists(atPath: vsock + "/3-8010") })
        let parent = try Sandbox.startParent(["--config", parentConfig], hostsFile: try scratch.write("parent-hosts", "127.0.0.1 localhost\n"),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock, "AWS_ACCESS_KEY_ID": info.accessKeyID,
                                                           "AWS_SECRET_ACCESS_KEY": info.secretAccessKey, "AWS_SESSION_TOKEN": "t0k\r\nX-Injected: 1"])
        defer { kill(parent.pid, SIGKILL) }
        #expect(eventually(timeout: .seconds(10)) { parent.stderrSoFar.contains("kms credentials vsock:any:8011") }, "\(parent.stderrSoFar)")
        // The parent half's own check, on its environment.
        #expect(parent.stderrSoFar.contains("Token has a character outside visible ASCII"), "\(parent.stderrSoFar)")
        let result = try boot(config, app: ["/bin/true"])
        Sandbox.expectEnded(result, .pid1, withCode: 70)
        let log = result?.stderr ?? ""
        #expect(log.contains("boot failed at step 8/10 secrets: secrets[0]"), "\(log)")
        #expect(log.contains("no credentials from the parent: Token has a character outside visible ASCII"), "\(log)")
        #expect(!log.contains("X-Amz-Target") && !log.contains("IQoJ"), "\(log)")
    }

    /// The halves may start in either order: the enclave boots first, its secrets step finds
    /// no parent (its credentials port does not answer), says so and keeps trying within
    /// kms.wait_seconds; the parent half starts 3 s later and the secret arrives.
    @Test func aSecretWaitsForAParentThatStartsLater() throws {
        let (info, standins) = try standins(plaintexts: #"{"db": {"plaintext": "late-parent"}}"#)
        defer { _ = stopAll(standins) }
        let config = try config(info, secrets: #"{"env": "DB_PASSWORD", "ciphertext": "\#(info.ciphertexts["db"]!)"}"#)
        let out = scratch.path + "/late.txt"
        let nsm = try freshNSM()
        defer { kill(nsm.pid, SIGKILL) }
        let run = scratch.path + "/run"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", "echo \"$DB_PASSWORD\" > \(out)"],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock, "ENCLAVE_INIT_NSM_SOCKET": scratch.path + "/nsm.sock"],
                                        prelude: "mount -t tmpfs -o mode=0755 tmpfs \(run)")
        #expect(eventually(timeout: .seconds(20)) { enclave.stderrSoFar.contains("the parent half may not be up yet") }, "\(enclave.stderrSoFar)")
        usleep(2_000_000)
        let parent = try parent(config, info)
        defer { kill(parent.pid, SIGKILL) }
        let result = enclave.wait(timeout: .seconds(60))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        #expect(scratch.text("late.txt") == "late-parent\n", "\(result?.stderr ?? "")")
        #expect(result?.stderr.contains("trying again for up to 30 s (kms.wait_seconds)") == true, "\(result?.stderr ?? "")")
    }

    /// A stop while the secrets step waits on KMS (the stand-in answers after 60 s, longer than
    /// the client's 15 s timeout): SIGTERM to PID 1, or `parent stop` over the control port,
    /// ends the boot at once with 143, without waiting for KMS, its timeout or kms.wait_seconds.
    @Test(arguments: ["SIGTERM", "parent stop"])
    func aStopDuringASlowKMSCallEndsTheBootAtOnce(_ how: String) throws {
        let (info, standins) = try standins(plaintexts: #"{"db": {"plaintext": "hunter2"}}"#, knobs: ["STANDIN_SLOW_SECONDS": "60"])
        defer { _ = stopAll(standins) }
        let config = try scratch.write("boot-stop.json", try String(contentsOfFile: try config(info, secrets: #"{"env": "DB_PASSWORD", "ciphertext": "\#(info.ciphertexts["db"]!)"}"#), encoding: .utf8)
            .replacingOccurrences(of: #"{"version": 1,"#, with: #"{"version": 1, "control": {"vsock_port": 9102},"#))
        let parent = try parent(config, info)
        defer { kill(parent.pid, SIGKILL) }
        let nsm = try freshNSM()
        defer { kill(nsm.pid, SIGKILL) }
        let run = scratch.path + "/run"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/true"],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock, "ENCLAVE_INIT_NSM_SOCKET": scratch.path + "/nsm.sock"],
                                        prelude: "mount -t tmpfs -o mode=0755 tmpfs \(run)")
        #expect(eventually(timeout: .seconds(30)) { standins[0].stderrSoFar.contains("kms standin: Decrypt received") }, "\(enclave.stderrSoFar)")
        let asked = ContinuousClock.now
        if how == "SIGTERM" {
            kill(try #require(Sandbox.initPID(of: enclave, .pid1)), SIGTERM)
        } else {
            var environment = Sandbox.baseEnvironment
            environment["ENCLAVE_INIT_VSOCK_DIR"] = vsock
            let stop = try ProcessRunner.run(try Sandbox.staticBinary(), ["parent", "stop", "--config", config, "--timeout", "20"], environment: environment)
            #expect(stop.status == 0, "\(stop.stderr)")
            #expect(stop.stderr.contains("the enclave stopped: exit code 143"), "\(stop.stderr)")
        }
        // Well before KMS's answer (60 s) and before the client's own timeout (15 s).
        let result = enclave.wait(timeout: .seconds(12))
        let waited = ContinuousClock.now - asked
        Sandbox.expectEnded(result, .pid1, withCode: 143)
        let log = result?.stderr ?? ""
        #expect(log.contains("before the app started: boot aborted (during step 8/10 secrets)"), "\(log)")
        #expect(!log.contains("boot failed"), "\(log)")
        print("a stop during a KMS call (\(how)): the enclave ended \(waited) after it was asked (the relays give the abandoned call's connection their 2 s drain)")
    }

    /// KMS's path through the egress proxies (no hosts[] mapping of its name): when the parent
    /// half cannot reach KMS, the enclave's error says what the parent saw, carried back in
    /// its refusal, not "closed" or "OpenSSL gave no detail".
    @Test(arguments: [
        ("refused", "127.0.0.1 localhost kms.us-east-1.amazonaws.com\n", "502 Bad Gateway: cannot reach kms.us-east-1.amazonaws.com:443: tcp:127.0.0.1:443: Connection refused"),
        ("unresolvable", "127.0.0.1 localhost\n", "502 Bad Gateway: cannot reach kms.us-east-1.amazonaws.com:443: cannot resolve kms.us-east-1.amazonaws.com"),
    ])
    func whatTheParentSawWhenItCannotReachKMSIsInTheEnclavesError(_ name: String, _ parentHosts: String, _ said: String) throws {
        let (info, standins) = try standins(plaintexts: #"{"db": {"plaintext": "hunter2"}}"#)
        defer { _ = stopAll(standins) }
        let config = try scratch.write("boot-egress.json", """
            {"version": 1,
             "egress": {"port": 3128, "vsock_port": 8001, "allow": ["kms.us-east-1.amazonaws.com", "127.0.0.1"]},
             "kms": {"region": "us-east-1", "credentials": {"vsock_port": 8010}, "ca_file": "\(info.ca)", "wait_seconds": 1},
             "secrets": [{"env": "DB_PASSWORD", "ciphertext": "\(info.ciphertexts["db"]!)"}]}
            """)
        let parent = try Sandbox.startParent(["--config", config], hostsFile: try scratch.write("parent-hosts-\(name)", parentHosts),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock, "AWS_ACCESS_KEY_ID": info.accessKeyID,
                                                           "AWS_SECRET_ACCESS_KEY": info.secretAccessKey])
        defer { kill(parent.pid, SIGKILL) }
        #expect(eventually(timeout: .seconds(10)) { parent.stderrSoFar.contains("kms credentials vsock:any:8010") }, "\(parent.stderrSoFar)")
        let result = try boot(config, app: ["/bin/true"])
        Sandbox.expectEnded(result, .pid1, withCode: 70)
        let log = result?.stderr ?? ""
        #expect(log.contains("boot failed at step 8/10 secrets: secrets[0]"), "\(log)")
        #expect(log.contains("the egress proxy refused CONNECT kms.us-east-1.amazonaws.com:443: HTTP/1.1 "), "\(log)")
        #expect(log.contains(said), "\(name): \(log)")
        print("KMS out of the parent's reach (\(name)): \(log.split(separator: "\n").first { $0.contains("boot failed") } ?? "")")
    }

    /// What the user got wrong in a secret is said with the secret's name and the fix: a
    /// ciphertext_file that is not there, and a ciphertext made with an encryption context
    /// (KMS itself only says InvalidCiphertextException).
    @Test func aSecretsMistakesAreNamedWithTheSecretAndTheFix() throws {
        let (info, standins) = try standins(plaintexts: #"{"db": {"plaintext": "hunter2", "context": {"app": "billing"}}}"#)
        defer { _ = stopAll(standins) }
        for (secret, says) in [
            (#"{"env": "DB_PASSWORD", "ciphertext_file": "/nonexistent/db.bin"}"#, "secrets[0] (env DB_PASSWORD): ciphertext_file /nonexistent/db.bin: "),
            (#"{"env": "DB_PASSWORD", "ciphertext": "\#(info.ciphertexts["db"]!)"}"#,
             "give the same one in secrets[0].encryption_context"),
        ] {
            let config = try config(info, secrets: secret)
            let parent = try parent(config, info)
            let result = try boot(config, app: ["/bin/true"])
            kill(parent.pid, SIGKILL)
            _ = parent.wait(timeout: .seconds(5))
            Sandbox.expectEnded(result, .pid1, withCode: 70)
            #expect(result?.stderr.contains(says) == true, "\(result?.stderr ?? "")")
        }
    }

    /// Each failure of a required secret ends the boot at its step with the reason.
    @Test(arguments: [
        ("wrong CA", [:], "TLS to KMS failed: the certificate for kms.us-east-1.amazonaws.com is not trusted"),
        ("PCR0 not in the key policy", ["STANDIN_REQUIRE_PCR0": String(repeating: "bb", count: 48)], "KMS refused (400 AccessDeniedException)"),
        ("garbled envelope", ["STANDIN_GARBLE": "1"], "CiphertextForRecipient is not a CMS EnvelopedData"),
        ("no credentials", [:], "no credentials from the parent: IMDS: connect to 127.0.0.1:1: Connection refused"),
        ("not a tmpfs", [:], "is not on a tmpfs"),
    ] as [(String, [String: String], String)])
    func aRequiredSecretThatCannotBeHadFailsTheBoot(_ name: String, _ knobs: [String: String], _ reason: String) throws {
        let (info, standins) = try standins(plaintexts: #"{"db": {"plaintext": "hunter2"}}"#, knobs: knobs)
        defer { _ = stopAll(standins) }
        let destination = name == "not a tmpfs" ? #""file": "\#(scratch.path)/on-disk/secret""# : #""env": "DB_PASSWORD""#
        let config = try config(info, caFile: name == "wrong CA" ? info.otherCA : nil, secrets: #"{\#(destination), "ciphertext": "\#(info.ciphertexts["db"]!)"}"#)
        let parent = try parent(config, info, credentials: name == "no credentials" ? ["ENCLAVE_INIT_IMDS_ENDPOINT": "127.0.0.1:1"] : nil)
        defer { kill(parent.pid, SIGKILL) }
        let result = try boot(config, app: ["/bin/true"])
        Sandbox.expectEnded(result, .pid1, withCode: 70)
        let log = result?.stderr ?? ""
        #expect(log.contains("boot failed at step 8/10 secrets: secrets[0]"), "\(log)")
        #expect(log.contains(reason), "\(name): \(log)")
        #expect(!log.contains("hunter2"))
    }
}
