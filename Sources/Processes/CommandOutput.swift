import CSupport
import Glibc

/// Runs a helper command to completion and collects its output (the parent half's
/// `nitro-cli describe-enclaves`). It starts through the same launcher as the app (fork with
/// only async-signal-safe calls, signals reset, descriptors closed at exec), so there is one
/// way to start a process in this binary.
public enum CommandOutput {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: [UInt8]

        public var statusDescription: String { "exit status \(status)" }
        /// What the command said, for an error message.
        public var firstLines: String {
            let text = String(decoding: stderr.isEmpty ? stdout : stderr, as: UTF8.self)
            return text.split(separator: "\n").prefix(3).joined(separator: " / ")
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case pipe(errno: Int32)
        case launch(LaunchError)
        case timedOut(after: Duration)

        public var description: String {
            switch self {
            case .pipe(let code): return "cannot create a pipe: \(String(cString: strerror(code)))"
            case .launch(.notFound(_, let reason)), .launch(.notExecutable(_, let reason)): return reason
            case .launch(.setup(let message)): return message
            case .timedOut(let timeout): return "it did not finish within \(milliseconds(timeout)) ms (killed)"
            }
        }
    }

    /// Blocking. The command inherits this process's environment; it is killed after `timeout`.
    public static func run(_ command: [String], timeout: Duration = .seconds(10)) throws(Failure) -> Result {
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard ei_output_pipe(&outPipe, 65536) == 0 else { throw .pipe(errno: errno) }
        guard ei_output_pipe(&errPipe, 65536) == 0 else {
            let code = errno
            outPipe.forEach { close($0) }
            throw .pipe(errno: code)
        }
        let spec = LaunchSpec(command: command, environment: LaunchSpec.environment(inherited: ProcessEnvironment.entries(), overrides: [], home: nil),
                              output: (outPipe[1], errPipe[1]))
        let launched = AppLauncher.launch(spec)
        close(outPipe[1])
        close(errPipe[1])
        defer { close(outPipe[0]); close(errPipe[0]) }
        let pid: pid_t
        switch launched {
        case .success(let started): pid = started
        case .failure(let error): throw .launch(error)
        }
        // Both pipes are read as output comes, until both end or the deadline passes: a
        // nitro-cli that hangs must not hold the ingress connections waiting for it.
        var output: [[UInt8]] = [[], []]
        var open = [outPipe[0], errPipe[0]]
        let deadline = ContinuousClock.now + timeout
        var chunk = [UInt8](repeating: 0, count: 65536)
        while open.contains(where: { $0 >= 0 }) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                kill(pid, SIGKILL)
                var ignored: Int32 = 0
                while waitpid(pid, &ignored, 0) < 0 && errno == EINTR {}
                throw .timedOut(after: timeout)
            }
            var polled = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(min(milliseconds(left) + 1, 1000))
            guard poll(&polled, nfds_t(polled.count), milliseconds) >= 0 || errno == EINTR else { break }
            for index in polled.indices where polled[index].fd >= 0 && polled[index].revents != 0 {
                let count = read(polled[index].fd, &chunk, chunk.count)
                if count > 0 { output[index] += chunk[0..<count] } else if count == 0 || errno != EINTR { open[index] = -1 }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return Result(status: TerminationStatus(waitStatus: status)?.exitCode ?? InitExitCode.bootStepFailed, stdout: output[0], stderr: output[1])
    }
}
