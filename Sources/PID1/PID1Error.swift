import Addressing
import Glibc

/// Why a PID-1 duty failed, with the errno and the path or endpoint behind it.
public enum PID1Error: Error, CustomStringConvertible {
    case cannotCreateMountPoint(path: String, errno: Int32)
    case cannotMount(type: String, target: String, errno: Int32)
    case heartbeatConnect(Endpoint, errno: Int32)
    case heartbeatWrite(Endpoint, errno: Int32)
    case heartbeatNoAnswer(Endpoint, milliseconds: Int32)
    /// The parent answered with another byte (nil: it closed the connection).
    case heartbeatWrongAnswer(Endpoint, byte: UInt8?)
    /// /modules_load_order could not be read or has a bad line.
    case moduleList(KernelModules.ListFailure)
    /// After the listed modules, the kernel still has no AF_VSOCK: the enclave could reach nothing.
    case noVsock(modules: String)
    /// The boot JSON could not be measured into its PCR and locked: nothing may run unmeasured.
    case measurement(String)
    /// A self-check that `hardening` requires failed.
    case selfCheck(check: String, found: String, expected: String)

    public var description: String {
        switch self {
        case .cannotCreateMountPoint(let path, let code): return "cannot create \(path): \(String(cString: strerror(code)))"
        case .cannotMount(let type, let target, let code): return "cannot mount \(type) on \(target): \(String(cString: strerror(code)))"
        case .heartbeatConnect(let target, let code): return "heartbeat: cannot connect to \(target): \(String(cString: strerror(code)))"
        case .heartbeatWrite(let target, let code): return "heartbeat: cannot write to \(target): \(String(cString: strerror(code)))"
        case .heartbeatNoAnswer(let target, let milliseconds): return "heartbeat: no answer from \(target) within \(milliseconds) ms"
        case .heartbeatWrongAnswer(let target, let byte):
            let got = byte.map { "0x" + String($0, radix: 16, uppercase: true) } ?? "end of stream"
            return "heartbeat: \(target) answered \(got) instead of 0xB7"
        case .moduleList(let failure): return "\(failure)"
        case .selfCheck(let check, let found, let expected):
            return "self-check \(check) failed and hardening.\(check) is \"require\": found \(found), expected \(expected)"
        case .measurement(let reason): return "the boot JSON cannot be measured: \(reason); the boot stops, since a document would not name the config"
        case .noVsock(let modules):
            return "the kernel has no vsock (socket(AF_VSOCK) says EAFNOSUPPORT) after \(modules): the enclave could reach nothing; "
                + "build the image with the kernel's own modules (enclave-init build --kernel-modules) or a kernel with vsock built in"
        }
    }
}
