import Glibc

/// One entry of a newc cpio archive (the initramfs format the kernel unpacks).
struct CpioEntry: Equatable {
    enum Kind: Equatable {
        case directory
        case file(source: String, size: UInt64)
        case symlink(target: String)
        /// A second name for the file written under `name` earlier in the same archive.
        case hardlink(to: String)
        case characterDevice(major: UInt32, minor: UInt32)
        case blockDevice(major: UInt32, minor: UInt32)
        case fifo
        /// Bytes made here (cmd, env, a rewritten /etc/hosts).
        case contents([UInt8])
    }

    /// Relative, without a leading "/" ("rootfs/etc/hosts").
    var name: String
    var kind: Kind
    /// The permission bits, setuid, setgid and sticky included (the type comes from `kind`).
    var permissions: UInt32
    var uid: UInt32 = 0
    var gid: UInt32 = 0
    var mtime: UInt32 = 0
    /// How many names the file has in the archive (newc's nlink; the kernel links by it).
    var links: UInt32 = 1
}

/// Writes a newc ("070701") cpio archive: a 110-byte ASCII header per entry, the name and its
/// NUL padded to four bytes, the data padded to four bytes, and the TRAILER!!! entry. Inode
/// numbers count up from 1 in the order entries are added, so the same entries in the same order
/// give the same bytes; a hard link repeats its file's inode with the data written once, on the
/// first name (the kernel's initramfs unpacker links later names to it).
struct CpioWriter {
    private var output: BufferedOutput
    private var nextInode: UInt32 = 1
    /// The inode given to each file name written, for the hard links that follow.
    private var inodes: [String: UInt32] = [:]

    init(path: String) throws(EIFError) {
        output = try BufferedOutput(path: path)
    }

    mutating func add(_ entry: CpioEntry) throws(EIFError) {
        let inode: UInt32, mode: UInt32, size: UInt64
        var nlink: UInt32 = 1, rdev: (UInt32, UInt32) = (0, 0)
        switch entry.kind {
        case .directory:
            (inode, mode, size, nlink) = (take(), 0o040000, 0, 2)
        case .file(_, let fileSize):
            inode = take()
            inodes[entry.name] = inode
            (mode, size, nlink) = (0o100000, fileSize, entry.links)
        case .contents(let bytes):
            (inode, mode, size) = (take(), 0o100000, UInt64(bytes.count))
        case .symlink(let target):
            (inode, mode, size) = (take(), 0o120000, UInt64(target.utf8.count))
        case .hardlink(let first):
            guard let original = inodes[first] else { throw .io(path: entry.name, operation: "linking (its first name \(first) was not written before it)", errno: ENOENT) }
            (inode, mode, size, nlink) = (original, 0o100000, 0, entry.links)
        case .characterDevice(let major, let minor):
            (inode, mode, size, rdev) = (take(), 0o020000, 0, (major, minor))
        case .blockDevice(let major, let minor):
            (inode, mode, size, rdev) = (take(), 0o060000, 0, (major, minor))
        case .fifo:
            (inode, mode, size) = (take(), 0o010000, 0)
        }
        guard size <= UInt64(UInt32.max) else { throw .tooLarge(what: entry.name, size: size, limit: UInt64(UInt32.max)) }
        try header(name: entry.name, inode: inode, mode: mode | (entry.permissions & 0o7777), uid: entry.uid, gid: entry.gid,
                   nlink: nlink, mtime: entry.mtime, size: UInt32(size), rdev: rdev)
        switch entry.kind {
        case .file(let source, let fileSize): try output.copy(from: source, size: fileSize)
        case .contents(let bytes): try output.write(bytes)
        case .symlink(let target): try output.write(Array(target.utf8))
        default: break
        }
        try output.pad(to: 4)
    }

    /// The trailer, then the file is flushed and closed.
    mutating func finish() throws(EIFError) {
        try header(name: "TRAILER!!!", inode: 0, mode: 0, uid: 0, gid: 0, nlink: 1, mtime: 0, size: 0, rdev: (0, 0))
        try output.pad(to: 4)
        try output.close()
    }

    private mutating func take() -> UInt32 {
        defer { nextInode += 1 }
        return nextInode
    }

    private mutating func header(name: String, inode: UInt32, mode: UInt32, uid: UInt32, gid: UInt32, nlink: UInt32,
                                 mtime: UInt32, size: UInt32, rdev: (UInt32, UInt32)) throws(EIFError) {
        let nameBytes = Array(name.utf8) + [0]
        let fields: [UInt32] = [inode, mode, uid, gid, nlink, mtime, size, 0, 0, rdev.0, rdev.1, UInt32(nameBytes.count), 0]
        var bytes = Array("070701".utf8)
        for field in fields {
            let hex = String(field, radix: 16, uppercase: true)
            bytes += Array((String(repeating: "0", count: 8 - hex.count) + hex).utf8)
        }
        try output.write(bytes + nameBytes)
        try output.pad(to: 4)
    }
}

/// Writes through a 1 MiB buffer, counting bytes for the padding.
struct BufferedOutput {
    private let file: ChunkedFile
    private var buffer: [UInt8] = []
    private(set) var written: UInt64 = 0

    init(path: String) throws(EIFError) {
        file = try ChunkedFile.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
        buffer.reserveCapacity(ChunkedFile.chunkBytes)
    }

    mutating func write(_ bytes: [UInt8]) throws(EIFError) {
        buffer += bytes
        written += UInt64(bytes.count)
        if buffer.count >= ChunkedFile.chunkBytes { try flush() }
    }

    mutating func pad(to alignment: UInt64) throws(EIFError) {
        let extra = (alignment - written % alignment) % alignment
        if extra > 0 { try write([UInt8](repeating: 0, count: Int(extra))) }
    }

    /// Exactly `size` bytes of `path` (a file that changes size while it is read is an error),
    /// written straight from the read buffer: what is buffered goes out first.
    mutating func copy(from path: String, size: UInt64) throws(EIFError) {
        let input = try ChunkedFile.open(path, flags: O_RDONLY)
        defer { input.close() }
        try flush()
        try input.stream(size: size, what: "\(path) (it shrank while it was read)") { bytes throws(EIFError) in
            try file.write(bytes)
            written += UInt64(bytes.count)
        }
    }

    mutating func flush() throws(EIFError) {
        guard !buffer.isEmpty else { return }
        var failure: EIFError?
        buffer.withUnsafeBytes { bytes in
            do throws(EIFError) { try file.write(bytes) } catch { failure = error }
        }
        if let failure { throw failure }
        buffer.removeAll(keepingCapacity: true)
    }

    /// No fsync: the ramdisks are scratch files, read back at once into the EIF, which is the
    /// file made durable (syncing a gigabyte twice more cost seconds for nothing).
    mutating func close() throws(EIFError) {
        try flush()
        file.close()
    }
}
