import Addressing
import CSupport
import Glibc

/// Writes one secret file: only on a tmpfs or ramfs (an enclave's memory, never a disk or an
/// NFS mount that outlives it), created fresh with the mode and owner asked for, missing
/// parent directories made (0755, root's).
enum SecretFile {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let tmpfsMagic: Int = 0x0102_1994
    static let ramfsMagic: Int = 0x8584_58F6

    static func write(_ secret: SecretBytes, to path: String, mode: UInt32, owner: (uid: UInt32, gid: UInt32)?) throws(Failure) {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        try makeDirectories(directory.isEmpty ? "/" : directory)
        let kind = ei_filesystem_type(directory.isEmpty ? "/" : directory)
        guard kind != -1 else { throw Failure(description: "statfs \(directory): \(String(cString: strerror(errno)))") }
        guard kind == tmpfsMagic || kind == ramfsMagic else {
            throw Failure(description: "\(directory) is not on a tmpfs (filesystem magic 0x\(String(UInt(bitPattern: kind), radix: 16))): a secret is never written to a disk; use a path under /run")
        }
        // Replaced, never appended to; a symlink planted there is not followed.
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        if let owner, fchown(fd, owner.uid, owner.gid) != 0 {
            throw Failure(description: "cannot give \(path) to \(owner.uid):\(owner.gid): \(String(cString: strerror(errno)))")
        }
        guard fchmod(fd, mode_t(mode)) == 0 else { throw Failure(description: "chmod \(path): \(String(cString: strerror(errno)))") }
        guard BlockingIO.writeAll(fd, secret.bytes) else { throw Failure(description: "writing \(path): \(String(cString: strerror(errno)))") }
    }

    private static func makeDirectories(_ directory: String) throws(Failure) {
        var path = ""
        for component in directory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o755) != 0 && errno != EEXIST {
                throw Failure(description: "cannot make \(path): \(String(cString: strerror(errno)))")
            }
        }
    }
}
