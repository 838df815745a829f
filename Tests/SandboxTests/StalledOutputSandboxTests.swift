import Foundation
import Testing
import TestSupport

/// A fault a production parent meets: its stdout is a pipe nobody reads (journald stalled, a
/// slow `| tee`, a paused terminal) while the enclave logs a lot. The enclave's log records are
/// printed to that stdout; before, each was a blocking write on an event loop, and once the
/// pipe was full every listener on that loop stopped (mapping 0/5, DNS 0/5). Now the lines
/// queue, the queue drops and counts, and the traffic goes on.
@Suite(.serialized) struct StalledOutputSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    /// Floods its own stdout (3 MB in bursts the log stream carries: far past a pipe's 64 KiB
    /// and the console queue's 1 MiB on the parent), then asks five times through the mapping and five times through the DNS
    /// stub, each with a 5 s limit, and writes how many were answered.
    static let app = """
        import socket, struct, sys, time
        line = "x" * 48
        for burst in range(60):
            for i in range(1000):
                print("%05d %s" % (burst * 1000 + i, line))
            sys.stdout.flush()
            time.sleep(0.02)  # the log stream keeps up: the records reach the parent, not just its buffer
        time.sleep(1)
        mapped = 0
        for _ in range(5):
            try:
                s = socket.create_connection(("127.0.0.9", 7000), timeout=5)
                s.sendall(b"ping\\n")
                if s.recv(100) == b"ping\\n": mapped += 1
                s.close()
            except OSError:
                pass
        resolved = 0
        for n in range(5):
            query = struct.pack(">HHHHHH", 0x4000 + n, 0x0100, 1, 0, 0, 0) + b"\\3api\\7example\\4test\\0" + struct.pack(">HH", 1, 1)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(5)
            s.sendto(query, ("127.0.0.1", 53))
            try:
                if s.recv(4096)[3] & 15 == 0: resolved += 1
            except OSError:
                pass
        open(sys.argv[1], "w").write("mapping %d/5 dns %d/5\\n" % (mapped, resolved))
        """

    @Test func aParentWhoseStdoutNobodyReadsKeepsCarryingTraffic() throws {
        let config = try scratch.write("boot.json", """
            {"version": 1,
             "hosts": [{"names": ["echo.example.test"], "address": "127.0.0.9", "port": 7000, "vsock_port": 8000, "remote": "198.18.0.10:7007"}],
             "dns": {"vsock_port": 8053}, "logs": {"vsock_port": 9100}}
            """)
        let fifo = scratch.path + "/stdout-nobody-reads"
        let hosts = TestHosts(records: [("api.example.test", "198.18.0.10")], echoes: [("198.18.0.10", 7007)],
                              // The parent's stdout: a FIFO whose only reader is the parent itself, which never reads it.
                              prelude: "mkfifo \(fifo)\nexec 3<>\(fifo) 1>&3\n")
        let parent = try hosts.startParent(config: config, vsock: vsock, scratch: scratch)
        defer { kill(parent.pid, SIGKILL) }
        let app = try scratch.write("app.py", Self.app)
        let out = scratch.path + "/result"
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/usr/bin/python3", app, out], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock],
                                        resolvConf: try Sandbox.privateResolvConf())
        let result = enclave.wait(timeout: .seconds(120))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        #expect(scratch.text("result") == "mapping 5/5 dns 5/5\n", "\(scratch.text("result"))\n\(parent.stderrSoFar)")
        kill(parent.pid, SIGTERM)
        let parentResult = parent.wait(timeout: .seconds(20))
        let log = parentResult?.stderr ?? ""
        // It still ended on SIGTERM (its last flush gives up on the stuck pipe after 2 s), and
        // said what the stuck reader cost.
        #expect(parentResult?.status == 0, "\(log)")
        let dropped = log.split(separator: "\n").first { $0.contains("console: ") && $0.contains("lines of stdout dropped") }
        #expect(dropped != nil, "\(log)")
        if let dropped { print("stalled stdout: \(dropped)") }
    }
}
