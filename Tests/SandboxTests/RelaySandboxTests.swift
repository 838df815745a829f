import Foundation
import Testing
import TestSupport

/// The relay inside fresh namespaces, vsock emulated with Unix sockets (ENCLAVE_INIT_VSOCK_DIR):
/// the app reaches a real server on the parent side by name, a client on the parent side
/// reaches the app through ingress, and 1,000 long-lived connections share one mapping.
@Suite(.serialized) struct RelaySandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    /// The parent side for the load tests: a Unix-socket echo server on emulated vsock port
    /// 8000, and a config mapping echo.internal:7000 to it.
    private func echoParent() throws -> (SpawnedProcess, String) {
        let echo = try scratch.write("echo.py", RelayScripts.unixEchoServer)
        let parent = try SpawnedProcess("/usr/bin/python3", [echo, "\(vsock)/3-8000"])
        #expect(eventually { FileManager.default.fileExists(atPath: "\(vsock)/3-8000") })
        let config = try scratch.write("boot.json", #"""
            {"version": 1, "hosts": [{"names": ["echo.internal"], "address": "127.0.0.9", "port": 7000, "vsock_port": 8000}]}
            """#)
        return (parent, config)
    }

    private func report(_ name: String) -> String {
        (try? String(contentsOfFile: scratch.path + "/" + name, encoding: .utf8)) ?? ""
    }

    @Test func theAppReachesARealServerOnTheParentSideByName() throws {
        // The parent side: python's http.server on loopback, socat in front of it on the
        // emulated vsock port 8000 (as the parent half will be).
        let site = scratch.path + "/site"
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        let body = String(repeating: "enclave-init relay test\n", count: 20_000)
        try body.write(toFile: site + "/data.txt", atomically: true, encoding: .utf8)
        let (probe, port) = try BlockingSocket.listen()
        _ = consume probe
        let server = try SpawnedProcess("/usr/bin/python3", ["-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", site])
        let socat = try SpawnedProcess("/usr/bin/socat", ["UNIX-LISTEN:\(vsock)/3-8000,fork", "TCP:127.0.0.1:\(port)"])
        defer { kill(server.pid, SIGKILL); kill(socat.pid, SIGKILL) }
        #expect(eventually { (try? BlockingSocket.connect(port: port)) != nil && FileManager.default.fileExists(atPath: "\(vsock)/3-8000") })

        let config = try scratch.write("boot.json", #"""
            {"version": 1, "hosts": [{"names": ["files.internal"], "address": "127.0.0.7", "port": 80, "vsock_port": 8000}]}
            """#)
        let fetch = "import urllib.request; open('\(scratch.path)/fetched', 'w').write(urllib.request.urlopen('http://files.internal/data.txt').read().decode())"
        let process = try Sandbox.start(.pid1, ["--config", config, "--", "/usr/bin/python3", "-c", fetch],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let result = process.wait(timeout: .seconds(30))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        #expect(report("fetched") == body)
        #expect(result?.stderr.contains("proxies: 1 listening: files.internal tcp:127.0.0.7:80 -> vsock:3:8000") == true, "\(result?.stderr ?? "")")
        #expect(result?.stderr.contains("1 accepted, 0 active") == true)
    }

    @Test func aClientOnTheParentSideReachesTheAppThroughIngress() throws {
        let app = try scratch.write("upper.py", RelayScripts.upperCaseServer)
        let ready = scratch.path + "/ready"
        let config = try scratch.write("boot.json", #"{"version": 1, "ingress": [{"vsock_port": 5000, "port": 8080}]}"#)
        let process = try Sandbox.start(.pid1, ["--config", config, "--", "/usr/bin/python3", app, "8080", ready],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let initPID = try #require(Sandbox.initPID(of: process, .pid1))
        #expect(eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: ready) })
        // The parent's side of ingress: a connection to the enclave's vsock port 5000 (CID 16).
        for round in 0..<3 {
            let reply = try ProcessRunner.run("/usr/bin/socat", ["-t", "5", "-", "UNIX-CONNECT:\(vsock)/16-5000"], stdin: "hello enclave \(round)")
            #expect(reply.stdout == "HELLO ENCLAVE \(round)", "\(reply.output)")
        }
        kill(initPID, SIGTERM)
        let result = process.wait(timeout: .seconds(20))
        Sandbox.expectEnded(result, .pid1, withCode: 143)
        #expect(result?.stderr.contains("proxy ingress 5000 vsock:any:5000 -> tcp:127.0.0.1:8080: 3 accepted, 0 active") == true, "\(result?.stderr ?? "")")
    }

    /// AWS's vsock-proxy serves 4 connections at a time; every one of 1,000 must make progress.
    @Test func aThousandLongLivedConnectionsThroughOneMappingAllMakeProgress() throws {
        let client = try scratch.write("many.py", RelayScripts.manyConnectionsClient)
        let (parent, config) = try echoParent()
        defer { kill(parent.pid, SIGKILL) }
        let process = try Sandbox.start(.pid1, ["--config", config, "--", "/usr/bin/python3", client, "echo.internal", "7000", "1000",
                                                scratch.path + "/progress"], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let result = process.wait(timeout: .seconds(60))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        #expect(report("progress") == "1000", "\(result?.stderr.suffix(2000) ?? "")")
        #expect(result?.stderr.contains("1000 accepted, 0 active") == true)
    }

    /// Out of descriptors: accept fails with EMFILE. The listener must back off instead of
    /// spinning on the CPU, keep serving what it has, and serve new connections once
    /// descriptors free up.
    @Test func runningOutOfDescriptorsDoesNotSpinAndRecovers() throws {
        let client = try scratch.write("exhaust.py", RelayScripts.exhaustionClient)
        let (parent, config) = try echoParent()
        defer { kill(parent.pid, SIGKILL) }
        let go = scratch.path + "/go", out = scratch.path + "/exhaust.json"
        let process = try Sandbox.start(.pid1, ["--config", config, "--", "/usr/bin/python3", client, "echo.internal", "7000", "80", go, out],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let initPID = try #require(Sandbox.initPID(of: process, .pid1))
        #expect(eventually { process.stderrSoFar.contains("app: started") })
        // Only enclave-init gets the low limit: 48 descriptors, about 15 relayed connections.
        let limit = try ProcessRunner.run("/usr/bin/prlimit", ["--pid", "\(initPID)", "--nofile=48:48"])
        #expect(limit.status == 0, "\(limit.output)")
        #expect(FileManager.default.createFile(atPath: go, contents: nil))
        let result = process.wait(timeout: .seconds(60))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        struct Report: Decodable { var served: Int; var cpu: Double; var later: Int; var baseline: Int; var released: Double }
        let report = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        #expect(report.served >= 5 && report.served < 80, "served \(report.served) of 80: the limit was not reached, or nothing worked")
        // With NIO's AcceptBackoffHandler this was 100% of a CPU whenever the first accept of a
        // wake-up failed (the listener stayed registered); AcceptGate unregisters it.
        #expect(report.cpu < 0.3, "enclave-init used \(report.cpu) of a CPU while out of descriptors")
        // Every descriptor comes back after the clients close (the backlog is accepted once the
        // back-off ends, and those connections end at once): within the script's 15 s deadline,
        // which it stops waiting at. How soon is the machine's load, not a property to assert
        // (a clean-clone run under load took 5.2 s where an idle one takes under 1).
        #expect(report.released < 15, "enclave-init still held more than its \(report.baseline) descriptors \(report.released) s after the clients closed")
        #expect(report.later == 5, "after the descriptors came back \(report.later) of 5 new connections worked\n\(result?.stderr.suffix(3000) ?? "")")
    }
}
