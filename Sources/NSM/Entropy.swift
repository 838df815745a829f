import CSupport
import Glibc

/// Entropy at boot: random bytes from the NSM (at most 256 a call), credited to the kernel's
/// pool before the app starts, so that its first keys do not depend on an enclave's thin
/// early entropy.
public enum Entropy {
    public static let wantedBytes = 256

    public enum Failure: Error, CustomStringConvertible {
        case nsm(Error)
        case empty
        case credit(errno: Int32)

        public var description: String {
            switch self {
            case .nsm(let error): return "\(error)"
            case .empty: return "the NSM's GetRandom gave no bytes"
            case .credit(let code): return "cannot credit the kernel's entropy pool (RNDADDENTROPY): \(String(cString: strerror(code)))"
            }
        }
    }

    /// Takes at least `wantedBytes` from the NSM and credits them; returns how many.
    public static func seed(from device: NSMDevice) throws(Failure) -> Int {
        var bytes: [UInt8] = []
        while bytes.count < wantedBytes {
            let response: NSMResponse
            do {
                response = try device.callWaiting(.getRandom)
            } catch {
                throw .nsm(error)
            }
            guard case .getRandom(let random) = response, !random.isEmpty else { throw .empty }
            bytes += random
        }
        defer { for index in bytes.indices { bytes[index] = 0 } }
        guard ei_add_entropy(bytes, bytes.count) == 0 else { throw .credit(errno: errno) }
        return bytes.count
    }
}
