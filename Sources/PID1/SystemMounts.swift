import DocumentReading
import Glibc
import Logging

/// What AWS's init mounts before it runs the image's CMD; enclave-init does the same when it is
/// the enclave's own init (a custom EIF), for whatever is not mounted yet. As a container's
/// init it mounts only the pseudo filesystems that are missing, never a tmpfs over the
/// image's /tmp or /run (docs/design.md, 1. The world an enclave boots into).
public enum SystemMounts {
    struct Mount {
        var target: String
        var type: String
        var source: String
        var flags: UInt
        var options: String?
    }

    static let standard: [Mount] = [
        Mount(target: "/proc", type: "proc", source: "proc", flags: UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), options: nil),
        Mount(target: "/sys", type: "sysfs", source: "sysfs", flags: UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), options: nil),
        Mount(target: "/dev", type: "devtmpfs", source: "devtmpfs", flags: UInt(MS_NOSUID), options: "mode=0755"),
        Mount(target: "/dev/pts", type: "devpts", source: "devpts", flags: UInt(MS_NOSUID | MS_NOEXEC), options: "newinstance,ptmxmode=0666,mode=0620"),
        Mount(target: "/dev/shm", type: "tmpfs", source: "shm", flags: UInt(MS_NOSUID | MS_NODEV), options: "mode=1777"),
        Mount(target: "/run", type: "tmpfs", source: "tmpfs", flags: UInt(MS_NOSUID | MS_NODEV), options: "mode=0755"),
        Mount(target: "/tmp", type: "tmpfs", source: "tmpfs", flags: UInt(MS_NOSUID | MS_NODEV), options: "mode=1777"),
    ]

    /// What a container's init may mount: the kernel's pseudo filesystems, nothing of the image.
    static let pseudoFilesystems: Set<String> = ["/proc", "/sys", "/dev", "/dev/pts", "/dev/shm"]

    /// Mounts each standard filesystem that is missing (as a container's init: only the pseudo
    /// filesystems); returns the targets it mounted.
    public static func mountMissing(as kind: InitKind, logger: Logger) throws(PID1Error) -> [String] {
        var mounted: [String] = []
        if !PIDNamespace.procfsMatchesOurs {
            // A PID namespace that kept its parent's /proc (unshare without --mount-proc). Mounting
            // a new one over it is only safe in a private mount namespace, which cannot be told
            // apart reliably from inside; leave it, and let the supervisor avoid /proc PIDs.
            logger.warning("/proc belongs to another PID namespace: process IDs in it are not ours")
        }
        let existing = mountPoints()
        for entry in standard where !existing.contains(entry.target) && (kind == .enclave || pseudoFilesystems.contains(entry.target)) {
            try mount(entry)
            mounted.append(entry.target)
        }
        return mounted
    }

    private static func mount(_ entry: Mount) throws(PID1Error) {
        if mkdir(entry.target, 0o755) != 0 && errno != EEXIST {
            throw .cannotCreateMountPoint(path: entry.target, errno: errno)
        }
        let result = entry.options.map { Glibc.mount(entry.source, entry.target, entry.type, entry.flags, $0) }
            ?? Glibc.mount(entry.source, entry.target, entry.type, entry.flags, nil)
        guard result == 0 else {
            throw .cannotMount(type: entry.type, target: entry.target, errno: errno)
        }
    }

    /// Mount points from /proc/self/mountinfo (field 5), octal escapes and all.
    static func mountPoints() -> Set<String> {
        guard let text = readSmallFile("/proc/self/mountinfo") else { return [] }
        return Set(text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 ? unescapeOctal(String(fields[4])) : nil
        })
    }

    private static func unescapeOctal(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "\\"), iterator.count >= 3, let value = UInt8(String(decoding: iterator.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                iterator = iterator.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A procfs file as text, or nil when it cannot be read.
func readSmallFile(_ path: String) -> String? {
    try? FileContents.text(path, limit: 1 << 20)
}
