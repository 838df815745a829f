import Foundation
import Testing
import TestSupport

/// The parent half on a network of its own with the hosts an enclave's app reaches through it:
/// addresses of 198.18.0.0/15 (the benchmarking range) on its `lo`, a dnsmasq that names them
/// — authoritative for example.test, so an unknown name there is NXDOMAIN, and with a TTL,
/// so the stub's cache keeps its answers — and echo servers. Everything the parent's shell
/// starts stays in its process group, which ends with it (SpawnedProcess).
struct TestHosts {
    /// name -> address, served by dnsmasq.
    var records: [(name: String, address: String)]
    /// address:port pairs with an echo server behind them.
    var echoes: [(address: String, port: Int)]
    /// More shell for the parent's namespace (another server, say).
    var prelude = ""

    static let echoServer = """
        import socket, sys, threading
        server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((sys.argv[1], int(sys.argv[2]))); server.listen(16)
        def serve(connection):
            while True:
                data = connection.recv(65536)
                if not data: break
                connection.sendall(data)
            connection.close()
        while True:
            connection, _ = server.accept()
            threading.Thread(target=serve, args=(connection,), daemon=True).start()
        """

    /// Connects to host:port (resolving a name with getaddrinfo), sends a line and prints what
    /// came back, or how it failed (and how fast).
    static let client = """
        import socket, sys, time
        start = time.monotonic()
        try:
            s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
            s.sendall(b"ping through the capture\\n")
            data = s.recv(100)
            print("echo:", data.decode().strip() if data else "(closed)")
        except (ConnectionResetError, BrokenPipeError):
            print("reset")
        except OSError as e:
            print("error:", e.__class__.__name__, e.errno)
        print("seconds: %.1f" % (time.monotonic() - start))
        """

    /// Whether a `client` run was let through (its line came back).
    static func echoed(_ output: String) -> Bool { output.hasPrefix("echo: ping through the capture\n") }
    /// Whether a `client` run was refused by the capture (reset, or closed before any answer).
    static func refused(_ output: String) -> Bool { output.hasPrefix("reset\n") || output.hasPrefix("echo: (closed)") }

    /// Starts `enclave-init parent --config CONFIG` with these hosts and waits until its DNS
    /// forwarder listens and the servers had a moment to start. `dnsmasqLog`: log every query there.
    func startParent(config: String, vsock: String, scratch: TemporaryDirectory, dnsmasqLog: String? = nil) throws -> SpawnedProcess {
        let echo = try scratch.write("echo.py", Self.echoServer)
        let addresses = Set(records.map(\.address) + echoes.map(\.address)).sorted()
        let logging = dnsmasqLog.map { " --log-queries --log-facility=\($0)" } ?? ""
        let shell = addresses.map { "ip addr add \($0)/32 dev lo\n" }.joined()
            + "dnsmasq --keep-in-foreground --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces --user=root"
            + " --local=/example.test/ --local-ttl=300\(logging) " + records.map { "--host-record=\($0.name),\($0.address)" }.joined(separator: " ") + " &\n"
            + echoes.map { "python3 \(echo) \($0.address) \($0.port) &\n" }.joined()
            + prelude
        let parent = try Sandbox.startParent(["--config", config], hostsFile: try Sandbox.privateHostsFile(),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock], ownNetwork: true, prelude: shell)
        #expect(eventually { parent.stderrSoFar.contains("listening: dns") }, "\(parent.stderrSoFar)")
        usleep(500_000) // the servers' start
        return parent
    }
}
