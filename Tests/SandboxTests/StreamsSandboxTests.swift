import Foundation
import Testing
import TestSupport

/// Both halves of the log and status streams: enclave-init in fresh namespaces, `enclave-init
/// parent --exit-with-enclave` outside, vsock emulated with Unix sockets.
@Suite(.serialized) struct StreamsSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    private func config(_ name: String, app: String, extra: String = "") throws -> String {
        try scratch.write(name, """
            {"version": 1, "heartbeat": {"enabled": false},
             "logs": {"vsock_port": 9100}, "status": {"vsock_port": 9101}\(extra),
             "app": {"command": ["/bin/sh", "-c", \(jsonString(app))]}}
            """)
    }

    private func jsonString(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    private func startParent(_ config: String, goneAfter: Int? = nil) throws -> SpawnedProcess {
        for port in [9100, 9101] { try? FileManager.default.removeItem(atPath: vsock + "/3-\(port)") } // a previous parent's
        let parent = try Sandbox.startParent(["--config", config, "--exit-with-enclave", "--status-file", scratch.path + "/last-status.json"]
                                                + (goneAfter.map { ["--gone-after", "\($0)"] } ?? []),
                                             hostsFile: try scratch.write("parent-hosts", "127.0.0.1 localhost\n"),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        #expect(eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: vsock + "/3-9101") }, "\(parent.stderrSoFar)")
        return parent
    }

    /// The status events' names, in the order the parent logged them.
    private func events(_ parentLog: String) -> [String] {
        parentLog.split(separator: "\n").compactMap { line in
            guard line.contains("enclave status: "), let start = line.range(of: "\"event\":\"") else { return nil }
            return String(line[start.upperBound...].prefix { $0 != "\"" })
        }
    }

    private func lines(_ output: String, prefix: String) -> [String] {
        output.split(separator: "\n", omittingEmptySubsequences: false).filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    @Test(arguments: Sandbox.Mode.allCases)
    func everyLineArrivesInOrderWithItsStreamAndTheParentExitsWithTheAppsStatus(_ mode: Sandbox.Mode) throws {
        let config = try config("boot-\(mode).json", app: """
            i=1; while [ $i -le 300 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done; printf 'no newline'; exit 3
            """)
        let parent = try startParent(config)
        let enclave = try Sandbox.start(mode, ["--config", config], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let enclaveResult = enclave.wait(timeout: .seconds(30))
        Sandbox.expectEnded(enclaveResult, mode, withCode: 3)
        let result = try #require(parent.wait(timeout: .seconds(15)), "the parent did not exit with the enclave")
        #expect(result.status == 3, "\(result.stderr)")
        #expect(lines(result.stdout, prefix: "stdout| ") == (1...300).map { "out \($0)" } + ["no newline"])
        #expect(lines(result.stdout, prefix: "stderr| ") == (1...300).map { "err \($0)" })
        // enclave-init's own lines too, up to its last one.
        let initLines = lines(result.stdout, prefix: "init  | ")
        let version = try String(contentsOfFile: #filePath.replacingOccurrences(of: "Tests/SandboxTests/StreamsSandboxTests.swift", with: "VERSION"),
                                 encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(initLines.first?.contains("enclave-init \(version) starting") == true, "\(initLines)")
        #expect(initLines.last?.contains("exiting exit_code=3") == true, "\(initLines)")
        // The console still got the app's output, unchanged.
        #expect(enclaveResult?.stdout.contains("out 300\nno newline") == true)
        #expect(events(result.stderr) == ["config_ok", "network_up", "proxies_listening", "app_started", "app_exited", "shutdown"],
                "\(result.stderr)")
        #expect(result.stderr.contains("\"event\":\"app_exited\",\"pid\":"))
        #expect(result.stderr.contains("\"code\":3,\"exit_code\":3,\"restarting\":false"))
        let last = try String(contentsOfFile: scratch.path + "/last-status.json", encoding: .utf8)
        #expect(last.contains("\"event\":\"shutdown\",\"exit_code\":3,\"power_off\":false"), "\(last)")
    }

    /// The enclave dies without saying so (here SIGKILL to its PID 1, as a kernel panic or
    /// terminate-enclave would end it): `--exit-with-enclave` used to wait forever. Its status
    /// stream closed and did not come back within --gone-after, so the parent exits 69 and says
    /// why.
    @Test func theParentExitsWhenTheEnclaveDiesWithoutSayingSo() throws {
        let config = try config("boot-gone.json", app: "sleep 60")
        let parent = try startParent(config, goneAfter: 2)
        defer { kill(parent.pid, SIGKILL) }
        let enclave = try Sandbox.start(.pid1, ["--config", config], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        #expect(eventually(timeout: .seconds(20)) { parent.stderrSoFar.contains("\"event\":\"app_started\"") }, "\(parent.stderrSoFar)")
        let pid1 = try #require(Sandbox.initPID(of: enclave, .pid1))
        let killedAt = ContinuousClock.now
        kill(pid1, SIGKILL)
        _ = enclave.wait(timeout: .seconds(10))
        let result = try #require(parent.wait(timeout: .seconds(20)), "the parent still waits for an enclave that is gone")
        let took = ContinuousClock.now - killedAt
        #expect(result.status == 69, "\(result.stderr)")
        #expect(result.stderr.contains("s ago without a shutdown and has not come back: the enclave is gone"), "\(result.stderr)")
        #expect(took >= .seconds(2) && took < .seconds(10), "\(took)")
    }

    /// The same death seen by nitro-cli (a fake on PATH that lists what a file says): with
    /// --enclave-name the parent asks it every 5 s, and an enclave it no longer lists is gone
    /// without waiting out --gone-after (600 s here).
    @Test func theParentExitsWhenNitroCLINoLongerListsTheEnclave() throws {
        let bin = scratch.path + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let listing = scratch.path + "/listing.json"
        try #"[{"EnclaveName": "demo", "EnclaveCID": 17, "State": "RUNNING"}]"#.write(toFile: listing, atomically: true, encoding: .utf8)
        let fake = try scratch.write("bin/nitro-cli", "#!/bin/sh\ncat \(listing)\n")
        chmod(fake, 0o755)
        let config = try config("boot-nitro-gone.json", app: "sleep 60")
        for port in [9100, 9101] { try? FileManager.default.removeItem(atPath: vsock + "/3-\(port)") }
        let parent = try Sandbox.startParent(["--config", config, "--exit-with-enclave", "--enclave-name", "demo", "--gone-after", "600"],
                                             hostsFile: try scratch.write("parent-hosts", "127.0.0.1 localhost\n"),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock, "PATH": bin + ":" + Sandbox.baseEnvironment["PATH"]!])
        defer { kill(parent.pid, SIGKILL) }
        let enclave = try Sandbox.start(.pid1, ["--config", config], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock, "ENCLAVE_INIT_VSOCK_CID": "17"])
        #expect(eventually(timeout: .seconds(20)) { parent.stderrSoFar.contains("\"event\":\"app_started\"") }, "\(parent.stderrSoFar)")
        #expect(parent.stderrSoFar.contains("nitro-cli: enclave demo is RUNNING (CID 17); watching it every 5 s"), "\(parent.stderrSoFar)")
        kill(try #require(Sandbox.initPID(of: enclave, .pid1)), SIGKILL)
        try "[]".write(toFile: listing, atomically: true, encoding: .utf8)
        _ = enclave.wait(timeout: .seconds(10))
        let result = try #require(parent.wait(timeout: .seconds(20)), "the parent still waits for an enclave nitro-cli no longer lists")
        #expect(result.status == 69, "\(result.stderr)")
        #expect(result.stderr.contains("nitro-cli describe-enclaves: no enclave named demo (no enclaves are running): the enclave is gone"), "\(result.stderr)")
    }

    /// A second parent half on the same emulation directory is refused (it used to replace the
    /// first one's sockets and take its enclave over without a word); the first serves on.
    @Test func aSecondParentOnTheSameVsockDirectoryIsRefused() throws {
        let config = try config("boot-twice.json", app: "true")
        let first = try startParent(config)
        defer { kill(first.pid, SIGKILL) }
        let second = try Sandbox.startParent(["--config", config], hostsFile: try scratch.write("parent-hosts-2", "127.0.0.1 localhost\n"),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let result = try #require(second.wait(timeout: .seconds(10)), "the second parent half started serving")
        #expect(result.status == 70, "\(result.stderr)")
        #expect(result.stderr.contains("another process listens there (a second enclave-init on the same ENCLAVE_INIT_VSOCK_DIR?)"), "\(result.stderr)")
        #expect(first.stderrSoFar.contains("listening: logs stream") && kill(first.pid, 0) == 0, "the first parent half is gone")
    }

    /// With --gone-after, an enclave that ends the usual way still hands the parent its own
    /// exit code (its shutdown arrives before its streams close).
    @Test func anEnclaveThatSaysShutdownIsNotTakenForGone() throws {
        let config = try config("boot-alive.json", app: "sleep 3; exit 5")
        let parent = try startParent(config, goneAfter: 2)
        defer { kill(parent.pid, SIGKILL) }
        let enclave = try Sandbox.start(.pid1, ["--config", config], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        Sandbox.expectEnded(enclave.wait(timeout: .seconds(30)), .pid1, withCode: 5)
        let result = try #require(parent.wait(timeout: .seconds(15)))
        #expect(result.status == 5, "\(result.stderr)")
    }

    @Test func aParentThatConnectsLateReceivesTheBufferedHistory() throws {
        let config = try config("boot-late.json", app: """
            i=1; while [ $i -le 200 ]; do echo "early $i"; i=$((i+1)); done
            while [ ! -e \(scratch.path)/parent-is-up ]; do sleep 0.05; done; echo late; kill -TERM $$
            """)
        let enclave = try Sandbox.start(.subreaper, ["--config", config], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        usleep(1_500_000) // the app has written everything; enclave-init retries the parent
        let parent = try startParent(config)
        FileManager.default.createFile(atPath: scratch.path + "/parent-is-up", contents: Data())
        Sandbox.expectEnded(enclave.wait(timeout: .seconds(30)), .subreaper, withCode: 128 + SIGTERM)
        let result = try #require(parent.wait(timeout: .seconds(15)), "the parent did not exit with the enclave")
        #expect(result.status == 128 + SIGTERM, "\(result.stderr)")
        #expect(lines(result.stdout, prefix: "stdout| ") == (1...200).map { "early \($0)" } + ["late"])
        #expect(events(result.stderr) == ["config_ok", "network_up", "proxies_listening", "app_started", "app_exited", "shutdown"])
        #expect(result.stderr.contains("\"signal\":15,\"signal_name\":\"SIGTERM\",\"exit_code\":143"), "\(result.stderr)")
    }

    @Test func aBootFailureIsReportedWithItsStepAndErrorBeforeTheEnd() throws {
        let config = try config("boot-fail.json", app: "echo never", extra: """
            ,
             "hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000}],
             "mounts": [{"type": "nfs4", "server": "127.0.0.200", "export": "/data", "target": "\(scratch.path)/mnt/pv", "timeout_seconds": 1}]
            """)
        let parent = try startParent(config)
        let enclave = try Sandbox.start(.pid1, ["--config", config], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        Sandbox.expectEnded(enclave.wait(timeout: .seconds(30)), .pid1, withCode: 70)
        let result = try #require(parent.wait(timeout: .seconds(15)), "the parent did not exit with the enclave")
        #expect(result.status == 70, "\(result.stderr)")
        #expect(events(result.stderr) == ["config_ok", "network_up", "proxies_listening", "boot_failed", "shutdown"], "\(result.stderr)")
        #expect(result.stderr.contains("\"event\":\"boot_failed\",\"step\":\"mounts\",\"error\":\"mounts[0]: nfs4 127.0.0.200:/data on"),
                "\(result.stderr)")
        #expect(!result.stdout.contains("never"))
    }

    @Test func readinessIsReportedWhenItHoldsAndWhenItTimesOut() throws {
        let listen = "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',8080)); s.listen(); time.sleep(2)"
        let ready = try config("boot-ready.json", app: "sleep 0.4; exec python3 -c \"\(listen)\"")
        // app.ready goes inside app: rewrite the file with it.
        let readyConfig = try String(contentsOfFile: ready, encoding: .utf8)
            .replacingOccurrences(of: "\"app\": {", with: "\"app\": {\"ready\": {\"tcp\": 8080, \"timeout_seconds\": 10}, ")
        try readyConfig.write(toFile: ready, atomically: true, encoding: .utf8)
        let parent = try startParent(ready)
        let enclave = try Sandbox.start(.subreaper, ["--config", ready], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        Sandbox.expectEnded(enclave.wait(timeout: .seconds(30)), .subreaper, withCode: 0)
        let result = try #require(parent.wait(timeout: .seconds(15)))
        #expect(events(result.stderr) == ["config_ok", "network_up", "proxies_listening", "app_started", "app_ready", "app_exited", "shutdown"],
                "\(result.stderr)")
        let after = result.stderr.range(of: "\"probe\":\"tcp 127.0.0.1:8080\",\"after_ms\":").map { result.stderr[$0.upperBound...].prefix { $0.isNumber } }
        #expect((Int(after ?? "") ?? 0) >= 400, "ready before the app listened: \(result.stderr)")

        let never = try config("boot-never.json", app: "sleep 1.5")
        let neverConfig = try String(contentsOfFile: never, encoding: .utf8)
            .replacingOccurrences(of: "\"app\": {", with: "\"app\": {\"ready\": {\"file\": \"\(scratch.path)/no-such-file\", \"timeout_seconds\": 1}, ")
        try neverConfig.write(toFile: never, atomically: true, encoding: .utf8)
        let parent2 = try startParent(never)
        let enclave2 = try Sandbox.start(.subreaper, ["--config", never], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let enclaveResult = enclave2.wait(timeout: .seconds(30))
        Sandbox.expectEnded(enclaveResult, .subreaper, withCode: 0)
        #expect(enclaveResult?.stderr.contains("app: not ready: file \(scratch.path)/no-such-file did not hold within 1 s") == true)
        let result2 = try #require(parent2.wait(timeout: .seconds(15)))
        #expect(events(result2.stderr) == ["config_ok", "network_up", "proxies_listening", "app_started", "app_not_ready", "app_exited", "shutdown"],
                "\(result2.stderr)")
    }

    @Test func withNoParentAnAppWriting100MBRunsThroughAndTheConsoleLosesNothing() throws {
        let output = scratch.path + "/console.out"
        let config = try config("boot-100mb.json", app: "yes \"$(printf '%099d' 0)\" | head -c 104857600")
        let enclave = try Sandbox.start(.subreaper, ["--config", config], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock],
                                        prelude: "exec >\(output)")
        let result = enclave.wait(timeout: .seconds(60))
        Sandbox.expectEnded(result, .subreaper, withCode: 0)
        let size = (try FileManager.default.attributesOfItem(atPath: output)[.size] as? NSNumber)?.intValue
        #expect(size == 104_857_600)
        // What the parent never acknowledged is said, not waited for beyond the flush timeout.
        #expect(result?.stderr.contains("logs: ") == true && result?.stderr.contains("records not acknowledged by the parent within 2 s") == true,
                "\(result?.stderr ?? "")")
        // Said once, in plain words (the emulated port is a missing socket file).
        #expect(result?.stderr.components(separatedBy: "logs stream: the parent is not reachable at vsock:3:9100: No such file or directory; buffering and retrying").count == 2,
                "\(result?.stderr ?? "")")
        try? FileManager.default.removeItem(atPath: output)
    }

    /// The console shows stdout and stderr interleaved as the app wrote them. An app that
    /// prints to stdout and then at once to stderr: with a reader thread per pipe, whichever
    /// woke first wrote first, and about 3% of such pairs came out swapped.
    @Test func theConsoleKeepsStdoutAndStderrInTheOrderTheAppWroteThem() throws {
        let console = scratch.path + "/console-merged.out"
        let config = try config("boot-interleaved.json", app: """
            i=1; while [ $i -le 150 ]; do echo "out $i"; echo "err $i" >&2; sleep 0.02; i=$((i+1)); done
            """)
        let enclave = try Sandbox.start(.subreaper, ["--config", config, "--log-level", "error"],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock], prelude: "exec >\(console) 2>&1")
        let result = try #require(enclave.wait(timeout: .seconds(60)), "enclave-init did not end in time")
        #expect(result.status == 0)
        let written = try String(contentsOfFile: console, encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("out ") || $0.hasPrefix("err ") }.map(String.init)
        #expect(written == (1...150).flatMap { ["out \($0)", "err \($0)"] })
    }
}
