import DocumentReading
import Glibc
import SystemPackage

/// A system file (/etc/hosts, /etc/resolv.conf) with enclave-init's managed block at its top,
/// between `# BEGIN enclave-init` and `# END enclave-init`: every line that is not ours is kept,
/// the block is replaced at each boot, and the file is written atomically (or in place when it
/// is a mount point). Top, because both files are read first match first.
public enum ManagedBlockFile {
    public static let beginMarker = "# BEGIN enclave-init"
    public static let endMarker = "# END enclave-init"
    static let notice = "# Managed by enclave-init from its boot JSON: edits inside this block are replaced at boot."

    /// The new contents: `block(kept)` (the lines outside any old block, each passed through
    /// `rewriting`) as the managed block, then the kept lines. Idempotent, as long as
    /// `rewriting` is: rendering its own output again gives the same bytes. Keeps the file's
    /// line endings (CRLF stays CRLF) and ends with a newline.
    public static func render(existing: String, rewriting: (String) -> String = { $0 }, block: ([String]) -> [String]) -> String {
        let newline = existing.contains("\r\n") ? "\r\n" : "\n"
        var kept: [String] = []
        var insideBlock = false
        // "\r\n" is a single Character in Swift: split on both forms.
        for rawLine in existing.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = String(rawLine)
            if line == beginMarker { insideBlock = true; continue }
            if insideBlock { if line == endMarker { insideBlock = false }; continue }
            kept.append(rewriting(line))
        }
        while kept.last == "" { kept.removeLast() } // the split leaves one after a final newline
        let managed = [beginMarker, notice] + block(kept) + [endMarker]
        return (managed + kept).joined(separator: newline) + newline
    }

    /// How the file was written.
    public enum WriteOutcome: Sendable, Equatable {
        case unchanged
        /// Written to a temporary file in the same directory, fsynced, renamed over the old one.
        case replaced
        /// The file is a mount point (bind-mounted by a container runtime or a test), which
        /// rename cannot replace: rewritten in place, then fsynced.
        case rewrittenInPlace
    }

    /// Reads `path` (missing: empty), renders it and writes the result if it differs.
    /// `configKey` names the setting that points at the file (for a read-only file's hint).
    public static func update(path: String, configKey: String, render: (String) -> String) throws(NetworkError) -> WriteOutcome {
        let existing: String
        do {
            existing = try FileContents.text(path, limit: 16 << 20)
        } catch Errno.noSuchFileOrDirectory {
            existing = ""
        } catch {
            throw .cannotRead(path: path, error)
        }
        let rendered = render(existing)
        if rendered == existing { return .unchanged }
        return try write(rendered, to: path, configKey: configKey)
    }

    static func write(_ contents: String, to path: String, configKey: String) throws(NetworkError) -> WriteOutcome {
        let target = FilePath(path)
        let directory = target.removingLastComponent()
        // A random name, created exclusively: every namespace init is PID 1, and enclave-inits
        // that share a directory (sandboxes on one machine) must not share a temporary file.
        let temporary = directory.appending(".\(target.lastComponent?.string ?? "file").enclave-init.\(getpid()).\(UInt64.random(in: 0...UInt64.max))")
        do {
            try writeDurably(contents, to: temporary, options: [.create, .exclusiveCreate])
        } catch {
            unlink(temporary.string)
            throw failure(writing: path, configKey: configKey, error)
        }
        if rename(temporary.string, path) == 0 {
            // Make the rename itself durable.
            if let directoryFD = try? FileDescriptor.open(directory.isEmpty ? "." : directory, .readOnly, options: [.directory, .closeOnExec]) {
                fsync(directoryFD.rawValue)
                try? directoryFD.close()
            }
            return .replaced
        }
        let renameError = Errno(rawValue: errno)
        unlink(temporary.string)
        guard renameError == .resourceBusy else { throw failure(writing: path, configKey: configKey, renameError) }
        do {
            try writeDurably(contents, to: target, options: [.truncate])
        } catch {
            throw failure(writing: path, configKey: configKey, error)
        }
        return .rewrittenInPlace
    }

    private static func writeDurably(_ contents: String, to path: FilePath, options: FileDescriptor.OpenOptions) throws(Errno) {
        do {
            let fd = try FileDescriptor.open(path, .writeOnly, options: options.union(.closeOnExec), permissions: [.ownerReadWrite, .groupRead, .otherRead])
            try fd.closeAfter {
                _ = try fd.writeAll(contents.utf8)
                if fsync(fd.rawValue) != 0 { throw Errno(rawValue: errno) }
            }
        } catch let error as Errno {
            throw error
        } catch {
            throw Errno.ioError
        }
    }

    private static func failure(writing path: String, configKey: String, _ error: Errno) -> NetworkError {
        .cannotWrite(path: path, error, configKey: configKey)
    }
}
