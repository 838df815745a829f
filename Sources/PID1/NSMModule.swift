import CSupport
import Glibc

/// /nsm.ko, the NSM driver AWS's EIFs carry at the root of the initramfs: AWS's init loads it
/// with finit_module before anything needs /dev/nsm, and so does enclave-init as the initial
/// namespace's PID 1 (a custom EIF). Kernels since 6.8 have the driver built in or as a module
/// of their own; then the file is simply absent.
public enum NSMModule {
    public static let path = "/nsm.ko"

    public enum Outcome: Sendable, Equatable, CustomStringConvertible {
        case absent
        case loaded
        /// EEXIST: the driver is there already.
        case alreadyLoaded
        case failed(errno: Int32)

        public var description: String {
            switch self {
            case .absent: return "\(NSMModule.path) absent"
            case .loaded: return "loaded \(NSMModule.path)"
            case .alreadyLoaded: return "\(NSMModule.path): the driver is loaded already"
            case .failed(let code): return "cannot load \(NSMModule.path): \(String(cString: strerror(code)))"
            }
        }
    }

    public static func loadIfPresent(path: String = NSMModule.path) -> Outcome {
        guard access(path, F_OK) == 0 else { return .absent }
        guard ei_load_module(path, 0) == 0 else { return errno == EEXIST ? .alreadyLoaded : .failed(errno: errno) }
        return .loaded
    }
}
