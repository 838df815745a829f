import Foundation
import Testing
import TestSupport

/// egress.udp end to end, both halves ours and every peer not: an app with no proxy settings
/// sends UDP to addresses of 198.18.0.0/15, which exist only in the parent's own network
/// namespace (the test's "internet"). The TUN device enclave-init makes is the enclave's
/// default route; the policy judges each flow; the parent half sends it from a socket of its
/// own. Peers: chronyd serving NTP and `chronyd -Q` asking it, dnsmasq answering `dig` by
/// address, aioquic's HTTP/3 over QUIC, and plain sockets (standins/udp_peers.py) for counts,
/// sizes and an answer from the wrong port.
@Suite(.serialized) struct UDPSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String
    static let standins = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("standins").path
    /// chronyd unpacked by scripts/install-deps (not installed: no service may start and set this machine's clock).
    static let chronyd = "/var/cache/enclave-init-peers/chrony/usr/sbin/chronyd"

    /// The python3 that has aioquic: scripts/install-deps's venv, else the PATH's (the sandbox's PATH may find another).
    static let python: String = {
        for candidate in [Peers.python, "python3"] {
            let found = try? ProcessRunner.run("/usr/bin/env", [candidate, "-c", "import sys, aioquic; print(sys.executable)"])
            if found?.status == 0 { return found!.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        return "/usr/bin/python3"
    }()

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    @Test func anAppsUDPReachesAllowedDestinationsThroughTheParentAndNothingElse() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.chronyd), "chronyd is missing: run scripts/install-deps")
        let out = scratch.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let quicPort = 4433 + Int.random(in: 0..<50)
        let config = try scratch.write("boot.json", """
            {"version": 1,
             "egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": {"vsock_port": 8002, "idle_seconds": 30},
                        "allow": ["**.example.test", "udp:198.18.0.53:53"], "deny": ["udp:**.example.test:7009"]},
             "dns": {"vsock_port": 8053}}
            """)
        // The NTP server: chronyd serving its own clock (never touching the machine's: -x).
        _ = try scratch.write("chrony-server.conf", """
            bindaddress 198.18.0.123
            port 123
            allow all
            local stratum 8
            pidfile \(scratch.path)/chrony-server.pid
            cmdport 0
            """)
        _ = try scratch.write("chrony-client.conf", "server ntp.example.test iburst maxsamples 4\npidfile \(scratch.path)/chrony-client.pid\ncmdport 0\n")
        let keyFile = scratch.path + "/quic.key", certFile = scratch.path + "/quic.pem"
        let made = try ProcessRunner.run("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                                              "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=quic.example.test",
                                                              "-addext", "subjectAltName=DNS:quic.example.test"])
        try #require(made.status == 0, "\(made.stderr)")
        let peers = Self.standins + "/udp_peers.py", quic = Self.standins + "/quic_peer.py"
        let client = try scratch.write("client.py", TestHosts.client)
        let hosts = TestHosts(records: [("ntp.example.test", "198.18.0.123"), ("echo.example.test", "198.18.0.10"),
                                        ("quic.example.test", "198.18.0.20")],
                              echoes: [("198.18.0.10", 7007)],
                              prelude: """
                                ip addr add 198.18.0.53/32 dev lo; ip addr add 198.18.0.54/32 dev lo
                                dnsmasq --keep-in-foreground --no-resolv --no-hosts --listen-address=198.18.0.53 --listen-address=198.18.0.54 --bind-interfaces --user=root --pid-file=\(scratch.path)/dnsmasq2.pid --address=/udp-check.test/203.0.113.7 &
                                \(Self.chronyd) -x -d -u root -f \(scratch.path)/chrony-server.conf > \(scratch.path)/chrony-server.log 2>&1 &
                                \(Self.python) \(peers) serve 198.18.0.10 \(scratch.path)/peers.ready &
                                \(Self.python) \(quic) serve 198.18.0.20 \(quicPort) \(certFile) \(keyFile) \(scratch.path)/quic.ready &

                                """)
        let parent = try hosts.startParent(config: config, vsock: vsock, scratch: scratch)
        #expect(eventually { parent.stderrSoFar.contains("listening: udp") }, "\(parent.stderrSoFar)")
        // Every server is up before the app asks (chronyd writes its pid file once it serves).
        for ready in ["quic.ready", "chrony-server.pid", "dnsmasq2.pid", "peers.ready"] {
            #expect(eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: scratch.path + "/" + ready) }, "\(ready)")
        }
        usleep(200_000)

        let py = Self.python
        let app = """
            unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY
            python3 \(client) echo.example.test 7007 > \(out)/tcp
            \(Self.chronyd) -Q -u root -f \(scratch.path)/chrony-client.conf > \(out)/ntp 2>&1; echo "exit $?" >> \(out)/ntp
            dig +time=3 +tries=1 @198.18.0.53 udp-check.test A > \(out)/dig-allowed 2>&1; echo "exit $?" >> \(out)/dig-allowed
            dig +time=3 +tries=1 @198.18.0.54 udp-check.test A > \(out)/dig-refused 2>&1; echo "exit $?" >> \(out)/dig-refused
            \(py) \(quic) get quic.example.test \(quicPort) \(certFile) /through-the-tun > \(out)/quic 2>&1
            \(py) \(peers) flood echo.example.test 9999 10000 > \(out)/flood
            \(py) \(peers) echo echo.example.test 7000 8192 > \(out)/echo-8k
            \(py) \(peers) echo echo.example.test 7000 65507 > \(out)/echo-max
            \(py) \(peers) wrongport echo.example.test 7001 > \(out)/wrongport
            \(py) \(peers) refused echo.example.test 7009 > \(out)/refused-name
            """
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", app], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let result = enclave.wait(timeout: .seconds(120))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        let log = result?.stderr ?? ""
        kill(parent.pid, SIGTERM)
        let parentLog = parent.wait(timeout: .seconds(10))?.stderr ?? ""

        #expect(log.contains("capture: route default dev ei-udp src 192.0.0.8 (TUN, mtu 65535) (added)"), "\(log)")
        // TCP is still redirected to the egress listener before it would reach the device.
        #expect(TestHosts.echoed(scratch.text("out/tcp")), "\(scratch.text("out/tcp"))")
        // chronyd -Q prints the offset it measured and sets nothing.
        let ntp = scratch.text("out/ntp")
        #expect(ntp.contains("System clock wrong by") && ntp.hasSuffix("exit 0\n"), "\(ntp)\n\(scratch.text("chrony-server.log"))")
        #expect(scratch.text("out/dig-allowed").contains("udp-check.test.\t\t0\tIN\tA\t203.0.113.7")
                || scratch.text("out/dig-allowed").contains("203.0.113.7"), "\(scratch.text("out/dig-allowed"))")
        // Not allowed by address: ICMP port unreachable from inside, so dig fails at once.
        let refused = scratch.text("out/dig-refused")
        #expect(refused.contains("connection refused") && !refused.contains("203.0.113.7"), "\(refused)")
        #expect(scratch.text("out/quic") == "status 200\nbody quic says hello to /through-the-tun\n", "\(scratch.text("out/quic"))")
        // Fire and forget, at a pace this path keeps up with: nearly all arrive, and never more
        // than were sent less those the halves counted as dropped (the receiving socket's own
        // buffer, which neither half sees, is the only other place one could be lost).
        let received = Int(scratch.text("out/flood").replacingOccurrences(of: "received ", with: "").trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let dropped = Self.counter("dropped", in: log) + Self.counter("dropped", in: parentLog)
        #expect(received <= 10_000 - dropped && received >= 9_500, "received \(received), dropped \(dropped): \(scratch.text("out/flood"))")
        print("udp sandbox: 10000 datagrams sent, \(received) received, \(dropped) dropped (counted)")
        for line in (log + parentLog).split(separator: "\n") where line.contains("udp: out ") { print("udp sandbox: \(line)") }
        #expect(scratch.text("out/echo-8k") == "intact\n", "\(scratch.text("out/echo-8k"))")
        #expect(scratch.text("out/echo-max") == "intact\n", "\(scratch.text("out/echo-max"))")
        #expect(scratch.text("out/wrongport") == "198.18.0.10:7001 from the right port\n", "\(scratch.text("out/wrongport"))")
        let deniedName = scratch.text("out/refused-name")
        #expect(deniedName.hasPrefix("error: ConnectionRefusedError 111\nseconds: 0."), "\(deniedName)")
        #expect(log.contains("udp: refused") && log.contains("198.18.0.54:53"), "\(log)")
        // Both halves count at shutdown.
        #expect(log.contains("udp: out ") && parentLog.contains("udp: out "), "\(log)\n\(parentLog)")
    }

    /// The flow table's bounds, end to end: past max_flows the flow idle longest is closed,
    /// idle flows are closed on their own, and a socket whose flow was closed just opens a new
    /// one with its next datagram (its answers keep coming).
    @Test func flowsPastTheBoundAndIdleOnesAreClosedAndComeBackOnDemand() throws {
        let config = try scratch.write("boot.json", """
            {"version": 1,
             "egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": {"idle_seconds": 1, "max_flows": 2},
                        "allow": ["198.18.0.10"]}}
            """)
        let parent = try Sandbox.startParent(["--config", config], hostsFile: try Sandbox.privateHostsFile(),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock], ownNetwork: true,
                                             prelude: "ip addr add 198.18.0.10/32 dev lo\n\(Self.python) \(Self.standins)/udp_peers.py serve 198.18.0.10 \(scratch.path)/peers.ready &\n")
        #expect(eventually { parent.stderrSoFar.contains("listening: udp") }, "\(parent.stderrSoFar)")
        #expect(eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: scratch.path + "/peers.ready") })
        let app = try scratch.write("app.py", """
            import socket, time
            def echo(sock, text):
                sock.sendto(text.encode(), ("198.18.0.10", 7000))
                try:
                    return sock.recv(100).decode()
                except OSError as error:
                    return "error: %s" % error
            sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
            for sock in sockets: sock.settimeout(3)
            print([echo(sock, "first %d" % index) for index, sock in enumerate(sockets)])  # the third evicts the first
            time.sleep(3.5)  # the other two go idle
            print([echo(sockets[0], "again 0")])
            """)
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "python3", app], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let result = enclave.wait(timeout: .seconds(60))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        kill(parent.pid, SIGTERM)
        _ = parent.wait(timeout: .seconds(10))
        let log = result?.stderr ?? "", output = result?.stdout ?? ""
        #expect(output == "['first 0', 'first 1', 'first 2']\n['again 0']\n", "\(output)\n\(log)")
        let counters = log.split(separator: "\n").last { $0.contains("udp: out ") }.map(String.init) ?? ""
        #expect(counters.contains("4 flows opened (") && counters.contains(", 1 evicted)"), "\(counters)")
        #expect(Self.counter("expired", in: log.replacingOccurrences(of: "(", with: " ")) >= 2, "\(counters)")
    }

    /// The parent half checks each flow with its own copy of the policy: when its file denies
    /// what the enclave's allows, the flow is refused there, and the app still fails at once.
    @Test func theParentsOwnCheckRefusesAFlowTheEnclaveAllowed() throws {
        let enclaveConfig = try scratch.write("enclave.json", """
            {"version": 1, "egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": true, "allow": ["198.18.0.0/24"]}}
            """)
        let parentConfig = try scratch.write("parent.json", """
            {"version": 1, "egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": true, "allow": ["198.18.0.0/24"],
                                      "deny": ["198.18.0.10:7000"]}}
            """)
        let parent = try Sandbox.startParent(["--config", parentConfig], hostsFile: try Sandbox.privateHostsFile(),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock], ownNetwork: true,
                                             prelude: "ip addr add 198.18.0.10/32 dev lo\n\(Self.python) \(Self.standins)/udp_peers.py serve 198.18.0.10 \(scratch.path)/peers.ready &\n")
        #expect(eventually { parent.stderrSoFar.contains("listening: udp") }, "\(parent.stderrSoFar)")
        #expect(eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: scratch.path + "/peers.ready") })
        let enclave = try Sandbox.start(.pid1, ["--config", enclaveConfig, "--", Self.python, Self.standins + "/udp_peers.py", "refused", "198.18.0.10", "7000"],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let result = enclave.wait(timeout: .seconds(60))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        kill(parent.pid, SIGTERM)
        let parentLog = parent.wait(timeout: .seconds(10))?.stderr ?? ""
        let log = result?.stderr ?? "", output = result?.stdout ?? ""
        #expect(output.hasPrefix("error: ConnectionRefusedError 111\nseconds: 0."), "\(output)\n\(log)")
        #expect(log.contains("udp: the parent refused") && log.contains("-> 198.18.0.10:7000: egress policy (parent): udp:198.18.0.10:7000 is denied by \"198.18.0.10:7000\""), "\(log)")
        #expect(log.contains("1 refused by the parent"), "\(log)")
        #expect(parentLog.contains("udp: refused 198.18.0.10:7000: egress policy (parent)"), "\(parentLog)")
    }

    /// "N dropped" from a half's shutdown line.
    static func counter(_ name: String, in log: String) -> Int {
        guard let line = log.split(separator: "\n").last(where: { $0.contains("udp: out ") }),
              let range = line.range(of: " \(name)") else { return 0 }
        return Int(line[..<range.lowerBound].split(separator: " ").last ?? "") ?? 0
    }
}

/// A parent that floods answers for flows that do not exist and then sends garbage: nothing of
/// it reaches the app, the stream is closed, and the next datagram opens a new one. The far
/// end is a stand-in written to misbehave (standins/hostile_udp_parent.py).
@Suite(.serialized) struct HostileUDPParentSandboxTests {
    @Test func floodedAndGarbledFramesChangeNothingForTheApp() throws {
        let (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
        let config = try scratch.write("boot.json", """
            {"version": 1, "egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": true, "allow": ["198.18.0.10"]}}
            """)
        let hostile = try SpawnedProcess("/usr/bin/env", ["python3", UDPSandboxTests.standins + "/hostile_udp_parent.py", vsock + "/3-8002"])
        defer { kill(hostile.pid, SIGKILL); _ = hostile.wait(timeout: .seconds(5)) }
        #expect(eventually { FileManager.default.fileExists(atPath: vsock + "/3-8002") })
        let app = """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
            for message in (b"one", b"two"):
                s.sendto(message, ("198.18.0.10", 5000))
                try:
                    print(s.recvfrom(100))
                except OSError as error:
                    print("error:", error)
            s.settimeout(0.5)
            try:
                print("more:", s.recvfrom(100))
            except OSError:
                print("nothing more")
            """
        let script = try scratch.write("app.py", app)
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "python3", script], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let result = enclave.wait(timeout: .seconds(60))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        let log = result?.stderr ?? "", output = result?.stdout ?? ""
        #expect(output == "(b'the real answer', ('198.18.0.10', 5000))\n(b'after reconnecting', ('198.18.0.10', 5000))\nnothing more\n",
                "\(output)\n\(log)")
        #expect(log.contains("closed the stream to the parent, which sent unknown frame type 9"), "\(log)")
        #expect(log.contains("10000 for no open flow") && log.contains("1 streams closed on a protocol error"), "\(log)")
    }
}
