import Glibc

/// A root filesystem directory read into a list of entries (metadata only; file contents are
/// read when the archive is written), sorted by path so the archive does not depend on the
/// order the filesystem lists them in. Symlinks are kept as links, never followed; a second
/// name of a file (same device and inode) becomes a hard link.
struct DirectoryTree {
    struct Node: Equatable {
        /// Relative, "etc/hosts".
        var path: String
        var kind: CpioEntry.Kind
        var permissions: UInt32
        var uid: UInt32
        var gid: UInt32
        var mtime: UInt32
        /// For files with several names: the path of the first (sorted) one.
        var linkOf: String?
    }

    private(set) var nodes: [Node] = []

    init(nodes: [Node] = []) { self.nodes = nodes }

    static func read(root: String) throws(EIFError) -> DirectoryTree {
        var info = stat()
        guard lstat(root, &info) == 0 else { throw .cannotOpen(path: root, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw .io(path: root, operation: "reading the directory", errno: ENOTDIR) }
        var found: [Node] = []
        var firstName: [String: String] = [:] // "dev:inode" -> the first path seen
        try walk(root: root, relative: "", into: &found)
        found.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        // Hard links are decided after sorting, so the first name is the same on every run.
        var tree = DirectoryTree()
        for var node in found {
            if case .file = node.kind, let key = node.linkOf {
                if let first = firstName[key] {
                    node.linkOf = first
                } else {
                    firstName[key] = node.path
                    node.linkOf = nil
                }
            } else {
                node.linkOf = nil
            }
            tree.nodes.append(node)
        }
        return tree
    }

    private static func walk(root: String, relative: String, into nodes: inout [Node]) throws(EIFError) {
        let directory = relative.isEmpty ? root : root + "/" + relative
        guard let handle = opendir(directory) else { throw .cannotOpen(path: directory, errno: errno) }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        for name in names {
            let path = relative.isEmpty ? name : relative + "/" + name
            let full = root + "/" + path
            var info = stat()
            guard lstat(full, &info) == 0 else { throw .io(path: full, operation: "stat", errno: errno) }
            var node = Node(path: path, kind: .directory, permissions: UInt32(info.st_mode & 0o7777), uid: info.st_uid,
                            gid: info.st_gid, mtime: UInt32(clamping: info.st_mtim.tv_sec), linkOf: nil)
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                nodes.append(node)
                try walk(root: root, relative: path, into: &nodes)
                continue
            case S_IFREG:
                node.kind = .file(source: full, size: UInt64(info.st_size))
                if info.st_nlink > 1 { node.linkOf = "\(info.st_dev):\(info.st_ino)" }
            case S_IFLNK:
                var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let length = readlink(full, &target, target.count - 1)
                guard length >= 0 else { throw .io(path: full, operation: "readlink", errno: errno) }
                node.kind = .symlink(target: String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            case S_IFCHR:
                node.kind = .characterDevice(major: major(info.st_rdev), minor: minor(info.st_rdev))
            case S_IFBLK:
                node.kind = .blockDevice(major: major(info.st_rdev), minor: minor(info.st_rdev))
            case S_IFIFO:
                node.kind = .fifo
            default:
                continue // sockets do not belong in an image
            }
            nodes.append(node)
        }
    }
}

/// glibc's encoding of a device number (the major()/minor() macros, which Swift cannot call).
private func major(_ device: dev_t) -> UInt32 { UInt32(truncatingIfNeeded: ((device >> 32) & 0xffff_f000) | ((device >> 8) & 0xfff)) }
private func minor(_ device: dev_t) -> UInt32 { UInt32(truncatingIfNeeded: ((device >> 12) & 0xffff_ff00) | (device & 0xff)) }
