import CSupport
import Glibc

/// What to start: the argv, the complete environment, and where and as whom to run it.
public struct LaunchSpec: Sendable {
    public var command: [String]
    public var environment: [(key: String, value: String)]
    public var workdir: String?
    public var credentials: Credentials?
    /// Descriptors that become the app's stdout and stderr (nil: enclave-init's own, the console).
    public var output: (stdout: Int32, stderr: Int32)?
    /// The app and everything it starts may not create AF_VSOCK sockets (app.allow_vsock false):
    /// a seccomp filter with no_new_privs, installed in the child before exec.
    public var denyVsock: Bool

    public init(command: [String], environment: [(key: String, value: String)], workdir: String? = nil, credentials: Credentials? = nil,
                output: (stdout: Int32, stderr: Int32)? = nil, denyVsock: Bool = false) {
        self.command = command
        self.environment = environment
        self.workdir = workdir
        self.credentials = credentials
        self.output = output
        self.denyVsock = denyVsock
    }

    /// enclave-init's own environment with `overrides` applied (later keys win), plus HOME from
    /// the user's passwd entry when the app runs as another user and HOME was not given.
    public static func environment(inherited: [String], overrides: [(key: String, value: String)],
                                   home: String?) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = inherited.compactMap { entry in
            guard let equals = entry.firstIndex(of: "=") else { return nil }
            return (String(entry[..<equals]), String(entry[entry.index(after: equals)...]))
        }
        func set(_ key: String, _ value: String) {
            if let index = result.firstIndex(where: { $0.key == key }) { result[index].value = value } else { result.append((key, value)) }
        }
        if let home, !overrides.contains(where: { $0.key == "HOME" }) { set("HOME", home) }
        for (key, value) in overrides { set(key, value) }
        return result
    }
}

/// Starts the app through the C helper (fork, setsid, chdir, ids, exec) and turns its failures
/// into LaunchErrors with the exit codes 127, 126 or 70.
public enum AppLauncher {
    public static func launch(_ spec: LaunchSpec) -> Result<pid_t, LaunchError> {
        guard let program = spec.command.first else { return .failure(.setup("app.command is empty")) }
        let searchPath = spec.environment.last(where: { $0.key == "PATH" })?.value
        let path: String
        switch ExecutableLookup.resolve(program, searchPath: searchPath) {
        case .success(let resolved): path = resolved
        case .failure(let error): return .failure(error)
        }

        let argv = CStringArray(spec.command)
        let envp = CStringArray(spec.environment.map { "\($0.key)=\($0.value)" })
        let groups = (spec.credentials?.groups ?? []).map { gid_t($0) }
        var stage: Int32 = 0
        var error: Int32 = 0
        let pid = path.withCString { cPath in
            withOptionalCString(spec.workdir) { cWorkdir in
                groups.withUnsafeBufferPointer { cGroups in
                    var request = ei_spawn_request(
                        path: cPath, argv: argv.pointers, envp: envp.pointers, workdir: cWorkdir,
                        set_ids: spec.credentials == nil ? 0 : 1,
                        uid: uid_t(spec.credentials?.uid ?? 0), gid: gid_t(spec.credentials?.gid ?? 0),
                        groups: cGroups.baseAddress, group_count: cGroups.count,
                        stdout_fd: spec.output?.stdout ?? -1, stderr_fd: spec.output?.stderr ?? -1,
                        deny_vsock: spec.denyVsock ? 1 : 0)
                    return ei_spawn(&request, &stage, &error)
                }
            }
        }
        if pid > 0 { return .success(pid) }
        return .failure(describe(stage: stage, errno: error, path: path, spec: spec))
    }

    private static func describe(stage: Int32, errno code: Int32, path: String, spec: LaunchSpec) -> LaunchError {
        let reason = String(cString: strerror(code))
        switch UInt32(stage) {
        case EI_STAGE_EXEC.rawValue:
            // ENOENT here can also mean a missing script interpreter or loader: still "not found".
            if code == ENOENT || code == ENOTDIR { return .notFound(path: path, reason: reason) }
            return .notExecutable(path: path, reason: reason)
        case EI_STAGE_CHDIR.rawValue:
            return .setup("cannot enter app.workdir \(spec.workdir ?? ""): \(reason)")
        case EI_STAGE_SETGROUPS.rawValue, EI_STAGE_SETGID.rawValue, EI_STAGE_SETUID.rawValue:
            let ids = spec.credentials.map { "uid \($0.uid), gid \($0.gid), groups \($0.groups)" } ?? ""
            return .setup("cannot switch to app.user (\(ids)): \(reason)")
        case EI_STAGE_SECCOMP.rawValue:
            return .setup("cannot install the filter that keeps the app off vsock (app.allow_vsock false): \(reason)")
        case EI_STAGE_STDIO.rawValue:
            return .setup("cannot connect the app's stdout/stderr to the log capture: \(reason)")
        default:
            return .setup("cannot start the app: \(reason)")
        }
    }
}

/// A NULL-terminated char*[] that lives as long as the value.
final class CStringArray {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: count + 1)
        for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
        pointers[count] = nil
    }

    deinit {
        for index in 0..<count { free(pointers[index]) }
        pointers.deallocate()
    }
}

private func withOptionalCString<T>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> T) -> T {
    guard let string else { return body(nil) }
    return string.withCString(body)
}

/// The ids the app runs with, resolved by the supervisor from `app.user` and the
/// image's /etc/passwd and /etc/group (UserDatabase).
public struct Credentials: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups: every group in /etc/group that lists the user by name.
    public var groups: [UInt32]
    public var home: String?

    public init(uid: UInt32, gid: UInt32, groups: [UInt32], home: String?) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.home = home
    }
}
