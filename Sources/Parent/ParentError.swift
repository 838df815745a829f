import Glibc
import Processes

/// What the parent half reports as an error: the allowlist file and the nitro-cli enclave
/// lookup, with the path, line, command or enclave behind each. `description` is the text the
/// console and the failed ingress connection's log line show.
enum ParentError: Error, CustomStringConvertible {
    case allowlistUnreadable(path: String, Error)
    /// A syntax or content problem at `line` of the allowlist (nil: the file as a whole).
    case allowlist(source: String, line: Int?, message: String)
    case cannotRunLookup(command: String, CommandOutput.Failure)
    case lookupFailed(command: String, status: String, said: String)
    /// describe-enclaves printed something other than the JSON array it documents.
    case unreadableLookup(String)
    case enclaveNotRunning(name: String, state: String)
    case enclaveWithoutCID(name: String)
    case noSuchEnclave(name: String, running: [String])
    /// A listener of the parent's own (not SwiftNIO's) could not bind.
    case cannotListen(what: String, errno: Int32)
    /// kms.credentials is configured but the parent half was not told which enclave may have them.
    case credentialsNeedEnclave

    var description: String {
        switch self {
        case .allowlistUnreadable(let path, let error): return "\(path): cannot read the allowlist: \(error)"
        case .allowlist(let source, let line?, let message): return "\(source) line \(line): \(message)"
        case .allowlist(let source, nil, let message): return "\(source): \(message)"
        case .cannotRunLookup(let command, let failure): return "cannot run \(command): \(failure)"
        case .lookupFailed(let command, let status, let said): return "\(command) failed (\(status)): \(said)"
        case .unreadableLookup(let problem): return "nitro-cli describe-enclaves printed \(problem)"
        case .enclaveNotRunning(let name, let state): return "enclave \(name) is \(state), not RUNNING"
        case .enclaveWithoutCID(let name): return "enclave \(name) has no valid EnclaveCID in nitro-cli's answer"
        case .noSuchEnclave(let name, let running):
            return "no enclave named \(name) (\(running.isEmpty ? "no enclaves are running" : "running: \(running.joined(separator: ", "))"))"
        case .cannotListen(let what, let code): return "\(what): cannot listen: \(String(cString: strerror(code)))"
        case .credentialsNeedEnclave:
            return "kms.credentials: the role's credentials are served to the enclave only, and this parent half does not know its CID: "
                + "give --enclave-cid N or --enclave-name NAME"
        }
    }
}
