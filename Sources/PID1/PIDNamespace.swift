import Glibc

/// Where this process stands among PID namespaces.
public enum PIDNamespace {
    /// The inode the kernel gives the initial PID namespace (PROC_PID_INIT_INO), fixed since Linux 3.8.
    static let initialNamespaceInode: UInt = 0xEFFF_FFFC

    /// True only for the real init of a machine: PID 1 of the initial PID namespace. Two checks,
    /// both required, because a false yes would send a namespace's test init to real vsock:
    /// our PID namespace is the initial one, and NSpid in /proc/self/status has a single entry.
    /// (NSpid alone is not enough: a /proc mounted inside the namespace lists only its own level.)
    public static var isInitialNamespaceInit: Bool {
        guard getpid() == 1 else { return false }
        var info = stat()
        guard stat("/proc/self/ns/pid", &info) == 0, UInt(info.st_ino) == initialNamespaceInode else { return false }
        guard let status = readSmallFile("/proc/self/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("NSpid:") }) else { return false }
        return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).count == 2
    }

    /// True when the procfs on /proc numbers processes the way kill(2) does for us, i.e. it was
    /// mounted for our PID namespace. A namespace that kept its parent's /proc sees other PIDs
    /// there: signalling those numbers would hit unrelated processes.
    public static var procfsMatchesOurs: Bool {
        var buffer = [CChar](repeating: 0, count: 32)
        let count = readlink("/proc/self", &buffer, buffer.count - 1)
        guard count > 0 else { return false }
        return pid_t(String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)) == getpid()
    }
}

/// Which init enclave-init is, which decides what it mounts and how it ends.
public enum InitKind: Sendable, Equatable, CustomStringConvertible {
    /// PID 1 of the initial PID namespace: a VM's init (a custom EIF, the qemu guest). It
    /// mounts what AWS's init would, sends the heartbeat (auto) and powers off instead of exiting.
    case enclave
    /// PID 1 of a nested PID namespace: a container's init (`docker run`, podman, Kubernetes).
    /// It mounts only missing pseudo filesystems and exits with the app's status, like tini.
    case container
    /// Not PID 1 (under AWS's init, or started by hand): a child subreaper that exits.
    case child

    public static func of(wasPID1: Bool) -> InitKind {
        guard wasPID1 else { return .child }
        return PIDNamespace.isInitialNamespaceInit ? .enclave : .container
    }

    public var powersOff: Bool { self == .enclave }

    public var description: String {
        switch self {
        case .enclave: return "the enclave's own init (PID 1 of the initial PID namespace): powers off at the end"
        case .container: return "a container's init (PID 1 of a nested PID namespace): exits with the app's status"
        case .child: return "a child of another init: exits with the app's status"
        }
    }
}
