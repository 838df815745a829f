import Foundation
import Testing
import TestSupport

/// The supervisor with real processes and real signals: the static binary as PID 1 of a PID +
/// mount namespace, and as an ordinary child (a child subreaper, as under AWS's init).
@Suite(.serialized) struct SupervisorSandboxTests {
    let scratch: TemporaryDirectory
    let config: String

    init() throws {
        scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
        chmod(scratch.path, 0o777) // apps running as uid 1000 write their reports here
        config = try scratch.write("boot.json", #"{"version": 1, "shutdown": {"grace_seconds": 2}}"#)
    }

    private func run(_ mode: Sandbox.Mode, _ command: [String], config: String? = nil, logLevel: String = "info",
                     environment: [String: String] = [:], timeout: Duration = .seconds(20)) throws -> ProcessResult? {
        let process = try Sandbox.start(mode, ["--config", config ?? self.config, "--log-level", logLevel, "--"] + command,
                                        environment: environment)
        return process.wait(timeout: timeout)
    }

    private func sh(_ script: String) -> [String] { ["/bin/sh", "-c", script] }

    private func report(_ name: String) -> String {
        (try? String(contentsOfFile: scratch.path + "/" + name, encoding: .utf8)) ?? ""
    }

    // MARK: - Exit status

    @Test(arguments: Sandbox.Mode.allCases, [Int32(0), 1, 3, 42, 255])
    func appExitCodePropagates(_ mode: Sandbox.Mode, _ code: Int32) throws {
        Sandbox.expectEnded(try run(mode, sh("exit \(code)")), mode, withCode: code)
    }

    @Test(arguments: Sandbox.Mode.allCases, [("KILL", Int32(137)), ("SEGV", 139), ("TERM", 143)])
    func deathBySignalIs128PlusN(_ mode: Sandbox.Mode, _ signal: (String, Int32)) throws {
        let result = try run(mode, sh("kill -\(signal.0) $$"))
        Sandbox.expectEnded(result, mode, withCode: signal.1)
        #expect(result?.stderr.contains("killed by signal \(signal.1 - 128) (SIG\(signal.0))") == true)
    }

    @Test(arguments: Sandbox.Mode.allCases)
    func missingCommandIs127AndNonExecutableIs126(_ mode: Sandbox.Mode) throws {
        let missing = try run(mode, ["/no/such/program", "arg"])
        Sandbox.expectEnded(missing, mode, withCode: 127)
        #expect(missing?.stderr.contains("cannot run /no/such/program: No such file or directory") == true)
        let notInPath = try run(mode, ["no-such-program-anywhere"])
        Sandbox.expectEnded(notInPath, mode, withCode: 127)
        #expect(notInPath?.stderr.contains("no-such-program-anywhere: not found in PATH=") == true)

        let plain = try scratch.write("not-executable", "#!/bin/sh\necho should not run\n")
        let notExecutable = try run(mode, [plain])
        Sandbox.expectEnded(notExecutable, mode, withCode: 126)
        #expect(notExecutable?.stderr.contains("cannot execute \(plain): Permission denied") == true)
        #expect(notExecutable?.stdout.isEmpty == true)
    }

    // MARK: - Signals

    /// The app traps each signal and appends its name to a file; init must forward every one.
    @Test(arguments: Sandbox.Mode.allCases)
    func everySignalReachesTheApp(_ mode: Sandbox.Mode) throws {
        let log = scratch.path + "/signals", ready = scratch.path + "/ready"
        let traps = ["HUP", "INT", "QUIT", "USR1", "USR2", "WINCH"].map { "trap 'echo \($0) >> \(log)' \($0)" }.joined(separator: "; ")
        let script = "\(traps); trap 'echo TERM >> \(log); exit 0' TERM; touch \(ready); while :; do sleep 0.02; done"
        let process = try Sandbox.start(mode, ["--config", config, "--"] + sh(script))
        let initPID = try #require(Sandbox.initPID(of: process, mode))
        #expect(eventually { FileManager.default.fileExists(atPath: ready) })

        var expected: [String] = []
        for (name, number) in [("HUP", SIGHUP), ("QUIT", SIGQUIT), ("USR1", SIGUSR1), ("USR2", SIGUSR2), ("WINCH", SIGWINCH), ("INT", SIGINT)] {
            kill(initPID, number)
            expected.append(name)
            #expect(eventually { report("signals").split(separator: "\n").map(String.init) == expected }, "after \(name): \(report("signals"))")
        }
        // SIGINT started the shutdown; SIGTERM now reaches the app, which exits 0: so does init.
        kill(initPID, SIGTERM)
        let result = process.wait(timeout: .seconds(10))
        #expect(report("signals").hasSuffix("INT\nTERM\n"))
        Sandbox.expectEnded(result, mode, withCode: 0)
        #expect(result?.stderr.contains("forwarded SIGWINCH to the app's process group") == true)
    }

    @Test(arguments: Sandbox.Mode.allCases)
    func appIgnoringTermIsKilledAfterTheGracePeriod(_ mode: Sandbox.Mode) throws {
        let ready = scratch.path + "/ready"
        let process = try Sandbox.start(mode, ["--config", config, "--"] + sh("trap '' TERM; touch \(ready); while :; do sleep 0.05; done"))
        let initPID = try #require(Sandbox.initPID(of: process, mode))
        #expect(eventually { FileManager.default.fileExists(atPath: ready) })
        let start = ContinuousClock.now
        kill(initPID, SIGTERM)
        let result = process.wait(timeout: .seconds(10))
        let elapsed = ContinuousClock.now - start
        Sandbox.expectEnded(result, mode, withCode: 137)
        // The grace period is 2 s: SIGKILL comes after it, and not much later.
        #expect(elapsed >= .milliseconds(1900) && elapsed < .seconds(3), "shutdown took \(elapsed)")
        #expect(result?.stderr.contains("still running after the 2 s grace period: SIGKILL") == true)
    }

    @Test func graceWaitEndsAsSoonAsEverythingIsGone() throws {
        // The app exits at once on TERM: the shutdown must not sit out the 2 s grace period.
        let ready = scratch.path + "/ready"
        let process = try Sandbox.start(.pid1, ["--config", config, "--"] + sh("touch \(ready); exec sleep 60"))
        let initPID = try #require(Sandbox.initPID(of: process, .pid1))
        #expect(eventually { FileManager.default.fileExists(atPath: ready) })
        let start = ContinuousClock.now
        kill(initPID, SIGTERM)
        let result = process.wait(timeout: .seconds(10))
        #expect(ContinuousClock.now - start < .seconds(1))
        Sandbox.expectEnded(result, .pid1, withCode: 143)
    }

    /// "After init starts" means after its first log line: between execve and the early
    /// constructor (well under a millisecond) the kernel drops signals to a namespace's init
    /// that has neither blocked nor handled them, and no program can close that window itself.
    @Test(arguments: [0, 5, 10, 20, 35, 50])
    func sigtermEarlyInStartUpIsNotLost(_ delayMilliseconds: Int) throws {
        let start = ContinuousClock.now
        let process = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sleep", "60"])
        let initPID = try #require(Sandbox.initPID(of: process, .pid1))
        #expect(eventually { process.stderrSoFar.contains("starting pid=1") })
        usleep(useconds_t(delayMilliseconds * 1000))
        kill(initPID, SIGTERM)
        let result = try #require(process.wait(timeout: .seconds(10)), "SIGTERM \(delayMilliseconds) ms after start was lost")
        #expect(ContinuousClock.now - start < .seconds(5))
        // Either the boot was aborted before the app existed, or the app got the signal.
        #expect(Sandbox.reportedExitCode(result) == 143, "\(result.stderr)")
        #expect(result.stderr.contains("boot aborted") || result.stderr.contains("forwarded SIGTERM"))
    }

    @Test(arguments: Sandbox.Mode.allCases)
    func leftoverDescendantsAreTerminatedWhenTheAppEnds(_ mode: Sandbox.Mode) throws {
        // The app exits at once, leaving a daemon that honours SIGTERM: no grace period needed.
        let start = ContinuousClock.now
        let quick = try run(mode, sh("sleep 100 & exit 0"))
        #expect(ContinuousClock.now - start < .seconds(1))
        Sandbox.expectEnded(quick, mode, withCode: 0)
        #expect(quick?.stderr.contains("shutdown: SIGTERM to 1 process remaining") == true, "\(quick?.stderr ?? "")")

        // A daemon that ignores SIGTERM is SIGKILLed when the 2 s grace period ends.
        let stubbornStart = ContinuousClock.now
        let stubborn = try run(mode, sh("(trap '' TERM; while :; do sleep 0.05; done) & sleep 0.1; exit 0"))
        let elapsed = ContinuousClock.now - stubbornStart
        Sandbox.expectEnded(stubborn, mode, withCode: 0)
        #expect(elapsed >= .seconds(2) && elapsed < .seconds(4), "took \(elapsed)")
        #expect(stubborn?.stderr.contains("shutdown: SIGKILL to") == true, "\(stubborn?.stderr ?? "")")
    }

    /// A wrapper that starts a service and then execs enclave-init (the qemu harness does): the
    /// service is not the app's, so shutdown neither signals it nor waits for it, while the
    /// app's own leftover is still terminated.
    @Test(arguments: Sandbox.Mode.allCases)
    func processesStartedBeforeEnclaveInitAreLeftAlone(_ mode: Sandbox.Mode) throws {
        let marker = scratch.path + "/service-\(mode)"
        let config = try scratch.write("long-grace.json", #"{"version": 1, "shutdown": {"grace_seconds": 60}}"#)
        let service = "sh -c 'trap \"echo signalled > \(marker)\" TERM; echo running > \(marker); while :; do sleep 0.05; done' & echo $! > \(marker).pid"
        let process = try Sandbox.start(mode, ["--config", config, "--", "/bin/sh", "-c", "sleep 100 & exit 0"], prelude: service)
        let result = process.wait(timeout: .seconds(20)) // the 60 s grace would show as a timeout
        Sandbox.expectEnded(result, mode, withCode: 0)
        let log = result?.stderr ?? ""
        #expect(log.contains("1 processes started before enclave-init"), "\(log)")
        #expect(log.contains("shutdown: SIGTERM to 1 process remaining"), "\(log)") // the app's sleep, not the service
        #expect(report("service-\(mode)") == "running\n")
        // As a plain child the service outlives enclave-init (as PID 1 the namespace took it).
        if let text = try? String(contentsOfFile: marker + ".pid", encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
    }

    /// Without --mount-proc the namespace sees its parent's /proc, whose PIDs are not ours: the
    /// shutdown must reach its own leftovers (kill(-1) as the namespace's init) and nothing else.
    @Test func shutdownWithAForeignProcNeverSignalsOutsideTheNamespace() throws {
        // A sentinel orphaned to the machine's PID 1, as the victims of a /proc mix-up would be.
        let sentinelFile = scratch.path + "/sentinel"
        // Started through SpawnedProcess, which passes on no descriptor but its output files:
        // through ProcessRunner the sleep held the runner's pipe, the runner waited until the
        // sleep had ended, and the check below looked at a process that was already gone (a
        // zombie that no init had reaped yet passed it).
        // The starter waits for the file, so that the sentinel has its own session before the
        // starter's process group is killed as it ends.
        let starter = try SpawnedProcess("/bin/sh", ["-c", "setsid sh -c 'sleep 300 & echo $! > \(sentinelFile)' & while [ ! -s \(sentinelFile) ]; do sleep 0.01; done"])
        _ = starter.wait(timeout: .seconds(5))
        #expect(eventually { !report("sentinel").isEmpty })
        let sentinel = try #require(pid_t(report("sentinel").trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(sentinel, SIGKILL) }

        let process = try Sandbox.start(.pid1, ["--config", config, "--"] + sh("sleep 100 & exit 0"), procOfItsOwn: false)
        let result = process.wait(timeout: .seconds(10))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        #expect(result?.stderr.contains("/proc belongs to another PID namespace") == true)
        #expect(result?.stderr.contains("shutdown: SIGTERM to every process remaining") == true, "\(result?.stderr ?? "")")
        let state = (try? String(contentsOfFile: "/proc/\(sentinel)/stat", encoding: .utf8))?.split(separator: ")").last?.split(separator: " ").first
        #expect(state != nil && state != "Z", "the sentinel outside the namespace was killed")
    }

    // MARK: - Reaping

    @Test(arguments: Sandbox.Mode.allCases)
    func orphanedGrandchildrenLeaveNoZombie(_ mode: Sandbox.Mode) throws {
        // 200 grandchildren orphaned at once (their parent subshell exits immediately), ending 0.2 s later.
        let ready = scratch.path + "/ready"
        let script = "i=0; while [ $i -lt 200 ]; do (sleep 0.2 &); i=$((i+1)); done; touch \(ready); sleep 3"
        let process = try Sandbox.start(mode, ["--config", config, "--log-level", "debug", "--"] + sh(script))
        let initPID = try #require(Sandbox.initPID(of: process, mode))
        #expect(eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: ready) })
        usleep(1_200_000) // 1 s after the last grandchild ended
        #expect(zombies(withParent: initPID).isEmpty, "zombies of init: \(zombies(withParent: initPID))")
        let result = process.wait(timeout: .seconds(10))
        Sandbox.expectEnded(result, mode, withCode: 0)
        let reaped = result?.stderr.components(separatedBy: "supervisor: reaped pid").count ?? 0
        #expect(reaped - 1 >= 200, "init reaped only \(reaped - 1) orphans")
    }

    private func zombies(withParent parent: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(pid_t.init).filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && fields[0] == "Z" && pid_t(fields[1]) == parent
        }
    }

    // MARK: - Restart

    @Test func onFailureRestartsUpToTheLimitWithGrowingBackoff() throws {
        let config = try scratch.write("restart.json", #"{"version": 1, "app": {"restart": "on-failure", "restart_limit": 3}}"#)
        let times = scratch.path + "/times"
        let result = try run(.subreaper, sh("date +%s%N >> \(times); exit 3"), config: config)
        Sandbox.expectEnded(result, .subreaper, withCode: 3)
        let starts = report("times").split(separator: "\n").compactMap { Int64($0) }
        #expect(starts.count == 4, "ran \(starts.count) times")
        let gaps = zip(starts.dropFirst(), starts).map { $0 - $1 }
        #expect(gaps.count == 3 && gaps[1] > gaps[0] && gaps[2] > gaps[1], "gaps (ns): \(gaps)")
        #expect(result?.stderr.contains("restart 3 of 3) after it exited with status 3") == true)
        #expect(result?.stderr.contains("not restarting: restart_limit 3 reached") == true)
    }

    /// Old crashes are forgiven: with a limit of 1, a quick crash uses the one restart; the next
    /// run lasts longer than restart_reset_seconds and then crashes, which starts the count
    /// over, so it is restarted once more; the third run's quick crash is the end. Without the
    /// reset the second crash would have been the last (2 runs, not 3).
    @Test func aCrashAfterALongHealthyRunIsRestartedAgain() throws {
        let config = try scratch.write("restart.json", #"{"version": 1, "app": {"restart": "on-failure", "restart_limit": 1, "restart_reset_seconds": 1}}"#)
        let runs = scratch.path + "/runs"
        let app = sh("""
            echo run >> \(runs); n=$(wc -l < \(runs))
            if [ "$n" -eq 2 ]; then sleep 1.3; fi
            exit 4
            """)
        let result = try run(.subreaper, app, config: config)
        Sandbox.expectEnded(result, .subreaper, withCode: 4)
        #expect(report("runs") == "run\nrun\nrun\n", "\(result?.stderr ?? "")")
        #expect(result?.stderr.contains("at least app.restart_reset_seconds (1): the restart count (1) and the backoff start over") == true,
                "\(result?.stderr ?? "")")
        #expect(result?.stderr.contains("not restarting: restart_limit 1 reached") == true)
    }

    @Test func onFailureDoesNotRestartACleanExit() throws {
        let config = try scratch.write("restart.json", #"{"version": 1, "app": {"restart": "on-failure", "restart_limit": 3}}"#)
        let result = try run(.subreaper, sh("echo run >> \(scratch.path)/runs; exit 0"), config: config)
        Sandbox.expectEnded(result, .subreaper, withCode: 0)
        #expect(report("runs") == "run\n")
    }

    @Test func alwaysRestartsACleanExitToo() throws {
        let config = try scratch.write("restart.json", #"{"version": 1, "app": {"restart": "always", "restart_limit": 2}}"#)
        let result = try run(.pid1, sh("echo run >> \(scratch.path)/runs; exit 0"), config: config)
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        #expect(report("runs") == "run\nrun\nrun\n")
    }

    @Test func sigtermDuringBackoffShutsDownAtOnce() throws {
        let config = try scratch.write("restart.json", #"{"version": 1, "app": {"restart": "always", "restart_limit": 100}}"#)
        let runs = scratch.path + "/runs"
        let process = try Sandbox.start(.subreaper, ["--config", config, "--"] + sh("echo run >> \(runs); exit 5"))
        // After a few restarts the backoff is 0.8 s and more: signal inside one.
        #expect(eventually(timeout: .seconds(10)) { report("runs").split(separator: "\n").count >= 4 })
        usleep(50_000)
        let start = ContinuousClock.now
        kill(process.pid, SIGTERM)
        let result = process.wait(timeout: .seconds(5))
        #expect(ContinuousClock.now - start < .milliseconds(500))
        Sandbox.expectEnded(result, .subreaper, withCode: 5)
    }

    // MARK: - User and workdir

    @Test func numericUserGroupAndWorkdirTakeEffect() throws {
        let workdir = try TemporaryDirectory(base: Sandbox.scratchBase)
        let config = try scratch.write("user.json", #"{"version": 1, "app": {"user": "1000:1000", "workdir": "\#(workdir.path)"}}"#)
        let out = scratch.path + "/ids"
        let result = try run(.pid1, sh("grep -E '^(Uid|Gid|Groups):' /proc/self/status > \(out); pwd >> \(out)"), config: config)
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        let lines = report("ids").split(separator: "\n").map { $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).joined(separator: " ") }
        #expect(lines == ["Uid: 1000 1000 1000 1000", "Gid: 1000 1000 1000 1000", "Groups: 1000", workdir.path], "\(lines)")
    }

    @Test func namedUserFromTheImagesPasswdTakesEffect() throws {
        // A test /etc/passwd and /etc/group, bind-mounted inside the namespace before exec.
        let passwd = try scratch.write("passwd", "root:x:0:0:root:/root:/bin/sh\nappuser:x:1234:2345:App:/home/appuser:/bin/sh\n")
        let group = try scratch.write("group", "root:x:0:\nappgroup:x:2345:\nextra:x:3456:appuser,other\nother:x:4567:other\n")
        let config = try scratch.write("user.json", #"{"version": 1, "app": {"user": "appuser"}}"#)
        let out = scratch.path + "/ids"
        let process = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c",
                                                "grep -E '^(Uid|Gid|Groups):' /proc/self/status > \(out); echo HOME=$HOME >> \(out)"],
                                        prelude: "mount --bind \(passwd) /etc/passwd; mount --bind \(group) /etc/group")
        Sandbox.expectEnded(process.wait(timeout: .seconds(10)), .pid1, withCode: 0)
        let lines = report("ids").split(separator: "\n").map { $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).joined(separator: " ") }
        #expect(lines == ["Uid: 1234 1234 1234 1234", "Gid: 2345 2345 2345 2345", "Groups: 2345 3456", "HOME=/home/appuser"], "\(lines)")
    }

    @Test func unknownUserNameFailsTheBootWith70() throws {
        let config = try scratch.write("user.json", #"{"version": 1, "app": {"user": "nosuchuser-xyz"}}"#)
        let result = try run(.subreaper, ["/bin/true"], config: config)
        Sandbox.expectEnded(result, .subreaper, withCode: 70)
        #expect(result?.stderr.contains("no user \"nosuchuser-xyz\" in /etc/passwd") == true)
    }

    @Test func appGetsOwnSessionCleanSignalsAndNoLeakedDescriptors() throws {
        let out = scratch.path + "/state"
        let script = "grep -E '^(SigBlk|SigIgn):' /proc/self/status > \(out); ls /proc/self/fd | sort -n | tr '\\n' ' ' >> \(out); echo >> \(out); ps -o pid=,pgid=,sid= -p $$ >> \(out) 2>/dev/null || cat /proc/self/stat | cut -d' ' -f1,5,6 >> \(out)"
        let result = try run(.subreaper, sh(script))
        Sandbox.expectEnded(result, .subreaper, withCode: 0)
        let lines = report("state").split(separator: "\n").map { $0.split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init) }
        #expect(lines.count == 4, "\(lines)")
        guard lines.count == 4 else { return }
        #expect(lines[0] == ["SigBlk:", "0000000000000000"])
        #expect(lines[1] == ["SigIgn:", "0000000000000000"])
        #expect(lines[2] == ["0", "1", "2", "3"], "open descriptors: \(lines[2])") // 3: ls's own directory handle
        #expect(Set(lines[3]).count == 1, "pid, process group and session should all be the app's pid: \(lines[3])")
    }
}
