import CTestSupport
import Foundation

/// A process started in the background, with default signal dispositions and an empty signal
/// mask whatever the test runner has, its output going to files — for tests that signal it,
/// inspect its children and wait for it with a deadline.
///
/// It leads a process group of its own, and whatever is left in that group when it has ended
/// (or when it is dropped) is killed: servers a test's shell started in the background (`cmd &`
/// stays in the shell's group) end with it, whether or not the test reached its own clean-up.
public final class SpawnedProcess: @unchecked Sendable {
    public let pid: pid_t
    private let directory: TemporaryDirectory
    private var exitStatus: Int32?
    /// The wait(2) status word once the process has ended.
    public private(set) var rawWaitStatus: Int32?

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        directory = try TemporaryDirectory()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, directory.path + "/stdout", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, directory.path + "/stderr", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else of this process leaks in: tests run in parallel, and a long-lived child that
        // holds another test's pipe or socket keeps that test waiting for an EOF forever.
        ctest_spawn_close_inherited(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0) // a group of its own, led by the new process
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environmentStrings = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let envp = environmentStrings.map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        self.pid = pid
    }

    /// Waits until the process ends, at most `timeout`; on timeout it is killed and nil returned.
    public func wait(timeout: Duration) -> ProcessResult? {
        let deadline = ContinuousClock.now + timeout
        while exitStatus == nil {
            var raw: Int32 = 0
            let reaped = waitpid(pid, &raw, WNOHANG)
            if reaped == pid {
                rawWaitStatus = raw
                exitStatus = (raw & 0x7F) == 0 ? (raw >> 8) & 0xFF : 128 + (raw & 0x7F)
                killGroup()
                break
            }
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &raw, 0)
                killGroup()
                return nil
            }
            usleep(5_000)
        }
        return ProcessResult(status: exitStatus!, stdout: read("stdout"), stderr: read("stderr"))
    }

    /// What it has written to stderr so far.
    public var stderrSoFar: String { read("stderr") }
    /// What it has written to stdout so far.
    public var stdoutSoFar: String { read("stdout") }

    /// The pid of its first child (for `unshare --fork`: the namespace's init), once it exists
    /// and runs `executableName`.
    public func child(running executableName: String, timeout: Duration = .seconds(5)) -> pid_t? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8),
               let first = text.split(separator: " ").first, let child = pid_t(first),
               let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(child)/exe"),
               exe.hasSuffix("/" + executableName) {
                return child
            }
            usleep(500)
        }
        return nil
    }

    private func read(_ name: String) -> String {
        (try? String(contentsOfFile: directory.path + "/" + name, encoding: .utf8)) ?? ""
    }

    /// Kills what is left of its process group (nothing, usually: ESRCH).
    private func killGroup() {
        kill(-pid, SIGKILL)
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            _ = waitpid(pid, &raw, 0)
        }
        killGroup()
    }
}

/// Polls `condition` every few milliseconds until it holds or `timeout` passes.
public func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(2_000)
    }
    return condition()
}
