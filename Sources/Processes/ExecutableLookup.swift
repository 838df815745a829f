import Glibc

/// Finds the program to exec the way execvp does: a name with a '/' is used as it is, any
/// other name is searched in PATH (the app's own PATH, else a standard one).
public enum ExecutableLookup {
    public static let defaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public static func resolve(_ name: String, searchPath: String?) -> Result<String, LaunchError> {
        if name.contains("/") { return .success(name) }
        let directories = (searchPath ?? defaultSearchPath).split(separator: ":", omittingEmptySubsequences: false)
        var notExecutable: String?
        for directory in directories {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + name
            var info = stat()
            guard stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            if access(candidate, X_OK) == 0 { return .success(candidate) }
            notExecutable = notExecutable ?? candidate
        }
        if let notExecutable {
            return .failure(.notExecutable(path: notExecutable, reason: "Permission denied"))
        }
        return .failure(.notFound(path: name, reason: "not found in PATH=\(searchPath ?? defaultSearchPath)"))
    }
}

/// Why the app could not be started, and the exit code that says so (README, "Command line": the exit codes).
public enum LaunchError: Error, Equatable, CustomStringConvertible {
    case notFound(path: String, reason: String)
    case notExecutable(path: String, reason: String)
    /// Setting up the child failed (workdir, user, fork): a boot step failure.
    case setup(String)

    public var exitCode: Int32 {
        switch self {
        case .notFound: return InitExitCode.notFound
        case .notExecutable: return InitExitCode.notExecutable
        case .setup: return InitExitCode.bootStepFailed
        }
    }

    public var description: String {
        switch self {
        case .notFound(let path, let reason): return "cannot run \(path): \(reason)"
        case .notExecutable(let path, let reason): return "cannot execute \(path): \(reason)"
        case .setup(let message): return message
        }
    }
}
