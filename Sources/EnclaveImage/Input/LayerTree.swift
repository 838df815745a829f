import Glibc

/// Container image layers applied in order into one tree, as a container runtime would: each
/// entry's path made safe (an entry that leaves the root is refused, naming the layer and the
/// entry), `.wh.NAME` removing NAME from the layers below, `.wh..wh..opq` emptying its directory
/// of what the layers below put there, a hard link sharing its target's contents. Only metadata
/// is kept in memory; each file's contents go to a file of its own in `scratch` as they are
/// read, so no layer ever sits in memory.
struct LayerTree {
    private(set) var nodes: [String: DirectoryTree.Node] = [:]
    let scratch: String
    private var files = 0

    init(scratch: String) { self.scratch = scratch }

    mutating func apply<Source: ByteSource>(_ reader: inout TarReader<Source>, layer: String) throws(ImageInputError) {
        var added = Set<String>()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while let entry = try reader.next() {
            let path = try Self.safePath(entry.name, layer: layer)
            if path.isEmpty { continue } // the root itself
            let (parent, base) = Self.split(path)
            if base == ".wh..wh..opq" {
                removeAll { $0.hasPrefix(parent.isEmpty ? "" : parent + "/") && !added.contains($0) }
                continue
            }
            if base.hasPrefix(".wh.") {
                let hidden = (parent.isEmpty ? "" : parent + "/") + base.dropFirst(4)
                removeAll { ($0 == hidden || $0.hasPrefix(hidden + "/")) && !added.contains($0) }
                continue
            }
            makeParents(of: path)
            var node = DirectoryTree.Node(path: path, kind: .directory, permissions: entry.mode & 0o7777, uid: entry.uid, gid: entry.gid,
                                          mtime: entry.mtime, linkOf: nil)
            switch entry.kind {
            case .directory:
                if case .directory? = nodes[path]?.kind {
                    nodes[path] = node // new metadata, children kept
                    added.insert(path)
                    continue
                }
            case .file:
                files += 1
                let contents = scratch + "/\(files)"
                try write(&reader, size: entry.size, to: contents, buffer: buffer, what: "layer \(layer): \(entry.name)")
                node.kind = .file(source: contents, size: entry.size)
            case .hardlink:
                let target = try Self.safePath(entry.linkName, layer: layer)
                guard let original = nodes[target], case .file = original.kind else {
                    throw .unsafeEntry(layer: layer, entry: entry.name, reason: "is a hard link to \(entry.linkName), which is no file of this or an earlier layer")
                }
                node.kind = original.kind
                node.permissions = original.permissions
                node.uid = original.uid
                node.gid = original.gid
            case .symlink:
                node.kind = .symlink(target: entry.linkName)
            case .characterDevice:
                node.kind = .characterDevice(major: entry.devMajor, minor: entry.devMinor)
            case .blockDevice:
                node.kind = .blockDevice(major: entry.devMajor, minor: entry.devMinor)
            case .fifo:
                node.kind = .fifo
            }
            // Anything else at this path, and below it when it was a directory, is replaced.
            removeAll { $0 == path || $0.hasPrefix(path + "/") }
            nodes[path] = node
            added.insert(path)
        }
    }

    /// Every node sorted by path; names sharing contents (hard links) link to the first.
    var sortedNodes: [DirectoryTree.Node] {
        var sorted = nodes.values.sorted { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        var first: [String: String] = [:]
        for index in sorted.indices {
            guard case .file(let source, _) = sorted[index].kind else { continue }
            if let leader = first[source] { sorted[index].linkOf = leader } else { first[source] = sorted[index].path }
        }
        return sorted
    }

    /// Removes the scratch files (the directory itself is the caller's).
    func removeScratch() {
        for index in 0...files { unlink(scratch + "/\(index)") }
    }

    // MARK: -

    /// "./usr//bin/" -> "usr/bin"; an absolute path or a ".." component leaves the root.
    static func safePath(_ name: String, layer: String) throws(ImageInputError) -> String {
        guard !name.hasPrefix("/") else { throw .unsafeEntry(layer: layer, entry: name, reason: "is an absolute path") }
        var parts: [Substring] = []
        for part in name.split(separator: "/", omittingEmptySubsequences: true) where part != "." {
            guard part != ".." else { throw .unsafeEntry(layer: layer, entry: name, reason: "leaves the image's root (\"..\")") }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    private static func split(_ path: String) -> (parent: String, base: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }

    private mutating func makeParents(of path: String) {
        var parent = Self.split(path).parent
        while !parent.isEmpty {
            if case .directory? = nodes[parent]?.kind { return }
            // A non-directory in the way is replaced by the directory the entry needs.
            removeAll { $0 == parent }
            nodes[parent] = DirectoryTree.Node(path: parent, kind: .directory, permissions: 0o755, uid: 0, gid: 0, mtime: 0, linkOf: nil)
            parent = Self.split(parent).parent
        }
    }

    private mutating func removeAll(where condition: (String) -> Bool) {
        for key in nodes.keys where condition(key) { nodes[key] = nil }
    }

    private func write<Source: ByteSource>(_ reader: inout TarReader<Source>, size: UInt64, to path: String,
                                           buffer: UnsafeMutableRawBufferPointer, what: String) throws(ImageInputError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        defer { close(descriptor) }
        var done: UInt64 = 0
        while done < size {
            let n = try reader.readData(into: buffer)
            if n == 0 { throw .corrupt(what: what, reason: "its data ends after \(done) of \(size) bytes") }
            let written = Glibc.write(descriptor, buffer.baseAddress, n)
            guard written == n else { throw .io(path: path, errno: errno) }
            done += UInt64(n)
        }
    }
}
