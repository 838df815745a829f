import Glibc
import Processes

/// Why an NFS mount failed: which mount, and the errno (or the path) behind it.
public enum NFSError: Error, CustomStringConvertible {
    /// mounts[index]: the target directory could not be made (`path` is the component that failed).
    case targetDirectory(index: Int, source: String, target: String, path: String, errno: Int32?)
    /// mount(2) kept failing: the last errno, attempts, time spent, and whether the deadline ran out.
    case mountFailed(index: Int, source: String, target: String, server: String, errno: Int32, attempts: Int,
                     elapsedMilliseconds: Int64, timedOutAfterSeconds: Int?, options: String)
    /// A stop (SIGTERM, SIGINT, the control port) arrived while mounts[index] was being tried.
    case interrupted(index: Int, BootInterruption.Interrupted)

    public var description: String {
        switch self {
        case .targetDirectory(let index, let source, let target, let path, let code):
            let problem = code.map { "\(path): \(String(cString: strerror($0)))" } ?? "\(path) is not a directory"
            return "mounts[\(index)]: nfs4 \(source) on \(target): cannot create the target directory: \(problem)"
        case .mountFailed(let index, let source, let target, let server, let code, let attempts, let elapsed, let timeout, let options):
            let tail = timeout.map { "mount(2) did not return within the \($0) s timeout_seconds" } ?? NFSErrors.describe(code, server: server)
            return "mounts[\(index)]: nfs4 \(source) on \(target) failed after \(attempts) attempt\(attempts == 1 ? "" : "s") in \(elapsed) ms: \(tail); options \(options)"
        case .interrupted(let index, let interrupted):
            return "mounts[\(index)]: \(interrupted) while mounting"
        }
    }
}

/// What mount(2)'s errno means for an NFS mount through an enclave proxy, and whether trying
/// again can help.
enum NFSErrors {
    /// Errors that no retry fixes: bad options, no NFSv4 in the kernel, no privilege.
    static func isPermanent(_ errorNumber: Int32) -> Bool {
        [EINVAL, ENODEV, EPERM, ENOTDIR, ENAMETOOLONG, ENOTBLK].contains(errorNumber)
    }

    static func describe(_ errorNumber: Int32, server: String) -> String {
        let base = "\(String(cString: strerror(errorNumber))) (\(name(errorNumber)))"
        switch errorNumber {
        case ECONNREFUSED, ECONNRESET, EPIPE:
            return "\(base): the proxy for \(server) took the connection but the parent side did not carry it to a server (is the parent half or the NFS server down?)"
        case ETIMEDOUT:
            return "\(base): \(server) did not answer in time"
        case EIO:
            return "\(base): the NFS server at \(server) did not answer usefully (is it up, and does it speak NFSv4?)"
        case ENOENT:
            return "\(base): the server has no such export"
        case EACCES:
            return "\(base): the server refused this client (exports need `insecure`: proxied connections come from unprivileged ports)"
        case EINVAL:
            return "\(base): the kernel rejected the mount options"
        case ENODEV:
            return "\(base): this kernel has no NFSv4 client (nfsv4 module)"
        case EPERM:
            return "\(base): mounting needs CAP_SYS_ADMIN"
        case EPROTONOSUPPORT:
            return "\(base): the server does not support this NFS version (try vers=4.1 or vers=4.0 in options)"
        default:
            return base
        }
    }

    static func name(_ errorNumber: Int32) -> String {
        let names: [Int32: String] = [
            ECONNREFUSED: "ECONNREFUSED", ECONNRESET: "ECONNRESET", EPIPE: "EPIPE", ETIMEDOUT: "ETIMEDOUT", EIO: "EIO",
            ENOENT: "ENOENT", EACCES: "EACCES", EINVAL: "EINVAL", ENODEV: "ENODEV", EPERM: "EPERM", ENOTDIR: "ENOTDIR",
            EPROTONOSUPPORT: "EPROTONOSUPPORT", EBUSY: "EBUSY", EHOSTUNREACH: "EHOSTUNREACH", ENETUNREACH: "ENETUNREACH",
            ENAMETOOLONG: "ENAMETOOLONG", ENOTBLK: "ENOTBLK", EAGAIN: "EAGAIN",
        ]
        return names[errorNumber] ?? "errno \(errorNumber)"
    }
}
