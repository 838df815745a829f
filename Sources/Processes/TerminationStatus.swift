import CSupport

/// How a process ended, and the exit code enclave-init reports for it (README, "Command line": the exit codes).
public enum TerminationStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    /// Decodes a wait(2) status word.
    public init?(waitStatus status: Int32) {
        if ei_wifexited(status) != 0 {
            self = .exited(ei_wexitstatus(status))
        } else if ei_wifsignaled(status) != 0 {
            self = .signaled(ei_wtermsig(status))
        } else {
            return nil // stopped or continued: not an end
        }
    }

    /// The app's own code; 128+N when signal N ended it (the shell's convention).
    public var exitCode: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let signal): return "killed by signal \(signal) (\(SignalName.of(signal)))"
        }
    }
}

/// Exit codes of enclave-init itself (sysexits.h where one fits).
public enum InitExitCode {
    /// The config is invalid (EX_CONFIG).
    public static let invalidConfig: Int32 = 78
    /// A boot step failed (EX_SOFTWARE); the message names the step.
    public static let bootStepFailed: Int32 = 70
    /// The command exists but cannot be executed.
    public static let notExecutable: Int32 = 126
    /// The command was not found.
    public static let notFound: Int32 = 127
}

public enum SignalName {
    private static let names: [Int32: String] = [
        1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
        9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
        16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
        23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO",
        30: "SIGPWR", 31: "SIGSYS",
    ]

    public static func of(_ signal: Int32) -> String { names[signal] ?? "signal \(signal)" }
}

/// A duration as whole milliseconds, for log lines.
public func milliseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
}
