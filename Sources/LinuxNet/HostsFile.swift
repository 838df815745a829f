import BootConfig
import Glibc
import SystemPackage

/// The hosts file with enclave-init's managed block: every line that is not ours is kept, our
/// entries live between `# BEGIN enclave-init` and `# END enclave-init` at the top of the file
/// (first match wins in /etc/hosts, so our names win over stale lines further down).
public enum HostsFile {
    public static let beginMarker = "# BEGIN enclave-init"
    public static let endMarker = "# END enclave-init"
    static let notice = "# Managed by enclave-init from its boot JSON: edits inside this block are replaced at boot."

    /// The new file contents for `existing` with `entries` as the managed block. Idempotent:
    /// rendering its own output again gives the same bytes. Keeps the file's line endings
    /// (CRLF stays CRLF) and ends with a newline.
    public static func render(existing: String, entries: [HostsEntries.Entry]) -> String {
        let newline = existing.contains("\r\n") ? "\r\n" : "\n"
        var kept: [String] = []
        var insideBlock = false
        // "\r\n" is a single Character in Swift: split on both forms.
        for rawLine in existing.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = String(rawLine)
            if line == beginMarker { insideBlock = true; continue }
            if insideBlock { if line == endMarker { insideBlock = false }; continue }
            kept.append(line)
        }
        while kept.last == "" { kept.removeLast() } // the split leaves one after a final newline

        var block = [beginMarker, notice]
        if !hasLocalhost(kept, address: "127.0.0.1") { block.append("127.0.0.1 localhost") }
        if !hasLocalhost(kept, address: "::1") { block.append("::1 localhost") }
        block += entries.map(\.description)
        block.append(endMarker)
        return (block + kept).joined(separator: newline) + newline
    }

    /// True when a non-comment line maps `localhost` to `address`.
    static func hasLocalhost(_ lines: [String], address: String) -> Bool {
        lines.contains { line in
            let fields = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
                .split(whereSeparator: { $0 == " " || $0 == "\t" }) ?? []
            return fields.first.map(String.init) == address && fields.dropFirst().contains("localhost")
        }
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

    /// Reads `path` (missing: empty), renders the block and writes the result if it differs.
    public static func update(path: String, entries: [HostsEntries.Entry]) throws(NetworkError) -> WriteOutcome {
        let existing: String
        do {
            existing = try FileContents.text(path, limit: 16 << 20)
        } catch Errno.noSuchFileOrDirectory {
            existing = ""
        } catch {
            throw .cannotReadHostsFile(path: path, error)
        }
        let rendered = render(existing: existing, entries: entries)
        if rendered == existing { return .unchanged }
        return try write(rendered, to: path)
    }

    static func write(_ contents: String, to path: String) throws(NetworkError) -> WriteOutcome {
        let target = FilePath(path)
        let directory = target.removingLastComponent()
        // A random name, created exclusively: every namespace init is PID 1, and enclave-inits
        // that share a directory (sandboxes on one machine) must not share a temporary file.
        let temporary = directory.appending(".\(target.lastComponent?.string ?? "hosts").enclave-init.\(getpid()).\(UInt64.random(in: 0...UInt64.max))")
        do {
            try writeDurably(contents, to: temporary, options: [.create, .exclusiveCreate])
        } catch {
            unlink(temporary.string)
            throw failure(writing: path, error)
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
        guard renameError == .resourceBusy else { throw failure(writing: path, renameError) }
        do {
            try writeDurably(contents, to: target, options: [.truncate])
        } catch {
            throw failure(writing: path, error)
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

    private static func failure(writing path: String, _ error: Errno) -> NetworkError {
        .cannotWriteHostsFile(path: path, error)
    }
}
