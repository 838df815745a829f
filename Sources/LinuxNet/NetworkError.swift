import Addressing
import Glibc
import SystemPackage

/// Why the network step (lo, hostname, /etc/hosts) failed, with the errno, libnl code or path
/// that says so. `description` is the console's text.
public enum NetworkError: Error, CustomStringConvertible {
    /// A libnl call failed (its operation and NLE_* code).
    case netlink(NetlinkError)
    case loopbackStillDown
    /// Addresses the kernel does not show on lo after they were added.
    case addressesMissing(missing: [InterfaceAddress], present: [InterfaceAddress])
    case hostname(String, errno: Int32)
    /// A managed file (hosts, resolv.conf) cannot be read or written; `configKey` is the setting
    /// that names it.
    case cannotRead(path: String, Error)
    case cannotWrite(path: String, Errno, configKey: String)
    /// The nat table could not take the capture rule (ENOENT: the kernel has no legacy
    /// iptables nat; EPERM: no CAP_NET_ADMIN).
    case captureRule(port: UInt16, errno: Int32)
    /// egress.udp's TUN device could not be made (ENOENT/ENODEV: no TUN in this kernel; EPERM:
    /// no CAP_NET_ADMIN).
    case tunDevice(name: String, errno: Int32)

    public var description: String {
        switch self {
        case .netlink(let error):
            let hint = error.isPermissionDenied ? " (changing lo needs CAP_NET_ADMIN: in a container, docker run --cap-add NET_ADMIN)" : ""
            return "netlink: \(error)\(hint)"
        case .loopbackStillDown: return "lo is still down after setting IFF_UP"
        case .addressesMissing(let missing, let present):
            return "the kernel does not show \(missing.map(\.description).joined(separator: ", ")) on lo after adding it "
                + "(lo has: \(present.map(\.description).sorted().joined(separator: ", ")))"
        case .hostname(let name, let code): return "cannot set the hostname to \(name): \(String(cString: strerror(code)))"
        case .cannotRead(let path, let error): return "cannot read \(path): \(error)"
        case .cannotWrite(let path, let error, let key):
            let hint = error == .readOnlyFileSystem ? " (the image's /etc must be writable, or set \(key) to a writable path)" : ""
            return "cannot write \(path): \(error)\(hint)"
        case .captureRule(let port, let code):
            let hint = code == ENOENT ? " (this kernel has no legacy iptables nat table: egress.transparent needs IP_NF_NAT)" : ""
            return "cannot install the capture rule (nat OUTPUT REDIRECT to port \(port)): \(String(cString: strerror(code)))\(hint)"
        case .tunDevice(let name, let code):
            let hint = code == ENOENT || code == ENODEV ? " (this kernel has no TUN device: egress.udp needs CONFIG_TUN)" : ""
            return "cannot create the TUN device \(name) for egress.udp: \(String(cString: strerror(code)))\(hint)"
        }
    }
}
