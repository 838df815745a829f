import Foundation
import Testing
import TestSupport

/// The control port and `enclave-init parent stop`, both halves as separate processes over the
/// vsock emulation: the enclave in fresh namespaces, the stop command outside, the status
/// stream at `parent serve` saying who asked.
@Suite(.serialized) struct ControlSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    private func config(_ name: String, app: String, grace: Int = 10, status: Bool = false) throws -> String {
        let escaped = app.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return try scratch.write(name, """
            {"version": 1, "heartbeat": {"enabled": false}, "control": {"vsock_port": 9102},
             "shutdown": {"grace_seconds": \(grace)}\(status ? #", "status": {"vsock_port": 9101}"# : ""),
             "app": {"command": ["/bin/sh", "-c", "\(escaped)"]}}
            """)
    }

    private var environment: [String: String] { ["ENCLAVE_INIT_VSOCK_DIR": vsock] }
    private var controlSocket: String { vsock + "/16-9102" }

    /// `enclave-init parent stop ARGS` with the emulation, to its end.
    private func parentStop(_ arguments: [String]) throws -> ProcessResult {
        var base = Sandbox.baseEnvironment
        base.merge(environment) { $1 }
        return try ProcessRunner.run(try Sandbox.staticBinary(), ["parent", "stop"] + arguments, environment: base)
    }

    /// Waits until the app has written `ready` (its trap is set) and the control port listens.
    private func waitUntilReady(_ enclave: SpawnedProcess, marker: String) {
        #expect(eventually(timeout: .seconds(20)) {
            FileManager.default.fileExists(atPath: marker) && FileManager.default.fileExists(atPath: controlSocket)
        }, "\(enclave.stderrSoFar)")
    }

    @Test(arguments: Sandbox.Mode.allCases)
    func parentStopEndsAnAppThatTrapsTermAndReportsItsExitCode(_ mode: Sandbox.Mode) throws {
        try? FileManager.default.removeItem(atPath: vsock + "/3-9101")
        let marker = scratch.path + "/ready-\(mode)"
        let config = try config("boot-trap-\(mode).json", app: """
            trap 'echo "TERM at $(date +%s)" > \(scratch.path)/trapped-\(mode); exit 7' TERM; touch \(marker); while :; do sleep 0.1; done
            """, status: true)
        let parent = try Sandbox.startParent(["--config", config, "--exit-with-enclave"],
                                             hostsFile: try scratch.write("parent-hosts", "127.0.0.1 localhost\n"), environment: environment)
        #expect(eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: vsock + "/3-9101") }, "\(parent.stderrSoFar)")
        let enclave = try Sandbox.start(mode, ["--config", config], environment: environment)
        waitUntilReady(enclave, marker: marker)

        let stop = try parentStop(["--config", config, "--timeout", "20"])
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(stop.stderr.contains("the enclave is stopping"), "\(stop.stderr)")
        #expect(stop.stderr.contains("the enclave stopped: exit code 7"), "\(stop.stderr)")
        Sandbox.expectEnded(enclave.wait(timeout: .seconds(20)), mode, withCode: 7)
        #expect(scratch.text("trapped-\(mode)").hasPrefix("TERM at "), "the app's trap did not run")

        let parentResult = try #require(parent.wait(timeout: .seconds(15)), "parent serve did not exit with the enclave")
        #expect(parentResult.status == 7, "\(parentResult.stderr)")
        #expect(parentResult.stderr.contains("\"event\":\"stopping\",\"by\":\"parent\""), "\(parentResult.stderr)")
    }

    /// An app that ignores SIGTERM: `parent stop` gives up at its --timeout with its own code,
    /// and the enclave still kills the app when the grace period ends.
    @Test func parentStopTimesOutAgainstAnAppThatIgnoresTerm() throws {
        let marker = scratch.path + "/ready-ignore"
        let config = try config("boot-ignore.json", app: "trap '' TERM; touch \(marker); while :; do sleep 0.1; done", grace: 4)
        let enclave = try Sandbox.start(.pid1, ["--config", config], environment: environment)
        waitUntilReady(enclave, marker: marker)

        let start = ContinuousClock.now
        let stop = try parentStop(["--config", config, "--timeout", "1"])
        #expect(stop.status == 75, "\(stop.stderr)")
        #expect(stop.stderr.contains("the enclave said it is stopping but did not finish within 1 s"), "\(stop.stderr)")
        #expect(ContinuousClock.now - start < .seconds(4), "the timeout was not honoured")

        let result = enclave.wait(timeout: .seconds(20))
        Sandbox.expectEnded(result, .pid1, withCode: 128 + SIGKILL)
        #expect(result?.stderr.contains("the parent asked to stop (control port): shutting down, grace period 4 s") == true, "\(result?.stderr ?? "")")
        #expect(result?.stderr.contains("still running after the 4 s grace period: SIGKILL") == true, "\(result?.stderr ?? "")")
    }

    @Test func parentStopFailsFastWhenNothingListens() throws {
        let config = try config("boot-nobody.json", app: "true")
        let start = ContinuousClock.now
        let stop = try parentStop(["--config", config])
        #expect(stop.status == 69, "\(stop.stderr)")
        #expect(stop.stderr.contains("cannot reach the enclave's control port at unix:\(vsock)/16-9102"), "\(stop.stderr)")
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    /// A fake `nitro-cli` (describe-enclaves prints `listing`) in a folder of its own, and the
    /// environment of a parent command that finds it first on PATH.
    private func fakeNitroCLI(_ folder: String, listing: String) throws -> [String: String] {
        let bin = scratch.path + "/" + folder
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let fake = try scratch.write(folder + "/nitro-cli", "#!/bin/sh\necho '\(listing)'\n")
        chmod(fake, 0o755)
        var base = Sandbox.baseEnvironment
        base.merge(environment) { $1 }
        base["PATH"] = bin + ":" + base["PATH"]!
        return base
    }

    /// --enclave-name: the CID comes from `nitro-cli describe-enclaves` (a fake one on PATH); a
    /// name it does not know is unreachable (69), named in the message.
    @Test func parentStopFindsTheEnclaveByName() throws {
        let base = try fakeNitroCLI("bin", listing: #"[{"EnclaveName": "other", "EnclaveCID": 21, "State": "RUNNING"}, {"EnclaveName": "demo", "EnclaveCID": 17, "State": "RUNNING"}]"#)
        let marker = scratch.path + "/ready-named"
        let config = try config("boot-named.json", app: "trap 'exit 5' TERM; touch \(marker); while :; do sleep 0.1; done")
        let enclave = try Sandbox.start(.pid1, ["--config", config], environment: environment.merging(["ENCLAVE_INIT_VSOCK_CID": "17"]) { $1 })
        #expect(eventually(timeout: .seconds(20)) {
            FileManager.default.fileExists(atPath: marker) && FileManager.default.fileExists(atPath: vsock + "/17-9102")
        }, "\(enclave.stderrSoFar)")
        let unknown = try ProcessRunner.run(try Sandbox.staticBinary(), ["parent", "stop", "--config", config, "--enclave-name", "prod"], environment: base)
        #expect(unknown.status == 69, "\(unknown.stderr)")
        #expect(unknown.stderr.contains("no enclave named prod (running: other, demo)"), "\(unknown.stderr)")
        let named = try ProcessRunner.run(try Sandbox.staticBinary(), ["parent", "stop", "--config", config, "--enclave-name", "demo"], environment: base)
        #expect(named.status == 0, "\(named.stderr)")
        #expect(named.stderr.contains("asking the enclave to stop: vsock:17:9102"), "\(named.stderr)")
        #expect(named.stderr.contains("the enclave stopped: exit code 5"), "\(named.stderr)")
        Sandbox.expectEnded(enclave.wait(timeout: .seconds(20)), .pid1, withCode: 5)
    }

    /// `parent stop --enclave-name` while the enclave is still booting (its heartbeat waits on a
    /// parent that never answers, so the control port opens 5 s late): nitro-cli lists it as
    /// RUNNING, so the stop keeps asking instead of giving up, and the enclave ends.
    @Test func parentStopWaitsForANamedEnclaveThatIsStillBooting() throws {
        let base = try fakeNitroCLI("bin-booting", listing: #"[{"EnclaveName": "slow", "EnclaveCID": 18, "State": "RUNNING"}]"#)
        // nitro-cli's heartbeat listener, played by one that takes the connection and never answers.
        let silent = try SpawnedProcess("/usr/bin/env", ["python3", "-c", """
            import socket, sys, time
            s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(4)
            held = []
            while True:
                c, _ = s.accept(); held.append(c)
            """, vsock + "/3-9000"])
        defer { kill(silent.pid, SIGKILL) }
        #expect(eventually { FileManager.default.fileExists(atPath: vsock + "/3-9000") })
        let config = try scratch.write("boot-booting.json", """
            {"version": 1, "heartbeat": {"enabled": true}, "control": {"vsock_port": 9102},
             "app": {"command": ["/bin/sh", "-c", "trap 'exit 5' TERM; while :; do sleep 0.1; done"]}}
            """)
        let enclave = try Sandbox.start(.pid1, ["--config", config], environment: environment.merging(["ENCLAVE_INIT_VSOCK_CID": "18"]) { $1 })
        defer { kill(enclave.pid, SIGKILL) }
        #expect(eventually(timeout: .seconds(10)) { enclave.stderrSoFar.contains("starting pid=1") }, "\(enclave.stderrSoFar)")
        let stop = try ProcessRunner.run(try Sandbox.staticBinary(), ["parent", "stop", "--config", config, "--enclave-name", "slow", "--timeout", "30"],
                                         environment: base)
        #expect(stop.status == 0, "\(stop.stderr)")
        #expect(stop.stderr.contains("the enclave's control port does not answer yet"), "\(stop.stderr)")
        #expect(stop.stderr.contains("the enclave stopped: exit code"), "\(stop.stderr)")
        #expect(enclave.wait(timeout: .seconds(20)) != nil, "the enclave did not end")
    }

    @Test func parentStopNeedsAControlSection() throws {
        let config = try scratch.write("boot-no-control.json", #"{"version": 1, "app": {"command": ["true"]}}"#)
        let stop = try parentStop(["--config", config])
        #expect(stop.status == 78, "\(stop.stderr)")
        #expect(stop.stderr.contains("no control section"), "\(stop.stderr)")
    }

    /// Random bytes and a thousand connections opened and dropped against the real binary: the
    /// app keeps running, and `stop` works afterwards.
    @Test func theControlPortSurvivesGarbageAndFloods() throws {
        let marker = scratch.path + "/ready-flood"
        let config = try config("boot-flood.json", app: "trap 'exit 0' TERM; touch \(marker); while :; do sleep 0.1; done")
        let enclave = try Sandbox.start(.pid1, ["--config", config], environment: environment)
        waitUntilReady(enclave, marker: marker)
        var random = SystemRandomNumberGenerator()
        var answered = 0
        for _ in 0..<100 {
            let socket = try BlockingSocket.connect(unixPath: controlSocket)
            socket.setReceiveTimeout(seconds: 10)
            var garbage = (0..<Int.random(in: 1...2048, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            garbage.append(UInt8(ascii: "\n"))
            try? socket.writeAll(garbage)
            if String(decoding: (try? socket.readToEnd()) ?? [], as: UTF8.self).hasPrefix("error: ") { answered += 1 }
        }
        #expect(answered == 100, "every garbage line gets an error line")
        for _ in 0..<1000 { _ = try BlockingSocket.connect(unixPath: controlSocket) }
        let stop = try parentStop(["--config", config, "--timeout", "20"])
        #expect(stop.status == 0, "\(stop.stderr)")
        let result = enclave.wait(timeout: .seconds(20))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        #expect(result?.stderr.contains("control: refused a connection") == true, "\(result?.stderr ?? "")")
    }
}
