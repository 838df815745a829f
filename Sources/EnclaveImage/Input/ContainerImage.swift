import DocumentReading
import Glibc

/// A container image as `docker save`, podman, buildah, skopeo or umoci leave it: an OCI image
/// layout directory, the same as a tar archive (an OCI archive), or a `docker save` archive.
/// Read without unpacking the archive: its members are found by offset and read in place. Every
/// blob named by a digest is checked against it as it is read.
struct ContainerImage {
    /// Where the image's files are.
    enum Store {
        /// The directory's real path (symlinks resolved), so that every member can be checked to
        /// resolve inside it.
        case directory(String)
        case archive(path: String, members: [String: (offset: UInt64, size: UInt64)])
    }

    let store: Store
    let description: String
    /// The layer files, bottom first (paths in the store), with their sha256 when one names them.
    let layers: [(name: String, digest: String?)]
    /// docker save: the config's rootfs.diff_ids, one per layer (the sha256 of its tar,
    /// uncompressed), checked as each is read; a layer named "<id>/layer.tar" has no other.
    var diffIDs: [String]? = nil
    let command: [String]
    let environment: [String]

    /// An OCI layout directory, or an archive file of either kind. `tag` chooses among several
    /// images (`--image PATH:TAG`); with several and no tag the image is refused, naming them:
    /// never silently the first.
    static func open(_ path: String, tag: String? = nil) throws(ImageInputError) -> ContainerImage {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .cannotOpen(path: path, errno: errno) }
        let store: Store
        if info.st_mode & S_IFMT == S_IFDIR {
            guard let resolved = realpath(path, nil) else { throw .cannotOpen(path: path, errno: errno) }
            store = .directory(String(cString: resolved))
            free(resolved)
        } else {
            try refuseCompressed(path)
            store = .archive(path: path, members: try index(archive: path))
        }
        if store.contains("manifest.json") { return try dockerSave(store, path: path, tag: tag) }
        if store.contains("index.json") { return try oci(store, path: path, tag: tag) }
        throw .notAnImage("\(path) has neither index.json (OCI) nor manifest.json (docker save)")
    }

    /// Applies the layers in order into `tree`.
    func apply(to tree: inout LayerTree) throws(ImageInputError) {
        for (index, (name, digest)) in layers.enumerated() {
            let raw = try store.open(name)
            var peek = try store.open(name)
            let magic = try peek.readExactly(Int(min(UInt64(2), try store.size(of: name))), what: name)
            // The digest of the tar itself, uncompressed: what a diff_id names.
            let tarDigest: () -> String
            if magic == [0x1f, 0x8b] {
                let inflated = DigestingSource(try GzipSource(raw, what: "layer \(name)"))
                var reader = TarReader(inflated, what: "layer \(name)")
                try tree.apply(&reader, layer: name)
                var rest = inflated
                try rest.drain()
                tarDigest = inflated.finishDigest
            } else if magic.first == 0x28 || magic == [0x42, 0x5a] {
                throw .unsupported(what: "layer \(name)", reason: "only tar and gzip-compressed tar layers are read (zstd and bzip2 are not)")
            } else {
                var reader = TarReader(raw, what: "layer \(name)")
                try tree.apply(&reader, layer: name)
                tarDigest = raw.finishDigest
            }
            // The digest covers every byte of the blob, past the tar's end marker too.
            var rest = raw
            try rest.drain()
            if let digest {
                let actual = raw.finishDigest()
                guard actual == digest else { throw .digestMismatch(blob: name, actual: actual) }
            }
            if let diffIDs {
                let actual = tarDigest()
                guard "sha256:" + actual == diffIDs[index] else {
                    throw .digestMismatch(blob: "\(name) (rootfs.diff_ids[\(index)] of the config is \(diffIDs[index]))", actual: actual)
                }
            }
        }
    }

    // MARK: - The two formats

    /// docker save: manifest.json names the config and the layer files.
    private static func dockerSave(_ store: Store, path: String, tag: String?) throws(ImageInputError) -> ContainerImage {
        let manifest = try store.json("manifest.json", digest: nil)
        guard case .array(let images) = manifest.value, !images.isEmpty else { throw .notAnImage("manifest.json is not a list of images") }
        let tagged = images.map { node -> [String] in
            guard case .object(let fields) = node.value else { return [] }
            return fields.strings("RepoTags")
        }
        let index = try choose(among: tagged, tag: tag, path: path)
        guard case .object(let fields) = images[index].value else { throw .notAnImage("manifest.json is not a list of images") }
        guard let configName = fields.string("Config"), case .array(let layerNodes)? = fields.value("Layers") else {
            throw .notAnImage("manifest.json's image \(index) has no Config and Layers")
        }
        let layers = try layerNodes.map { node throws(ImageInputError) -> (String, String?) in
            guard case .string(let name) = node.value else { throw .notAnImage("manifest.json: a layer is not a file name") }
            return (name, digest(fromBlobPath: name))
        }
        let config = try store.json(configName, digest: digest(fromBlobPath: configName))
        let (command, environment) = try Self.runConfig(config, name: configName)
        // Each layer is checked against the config's diff_ids, which the config's own name (its
        // digest) covers: a layer swapped for another file is refused, not built in.
        guard case .object(let top) = config.value, case .object(let rootfs)? = top.value("rootfs"),
              case .array(let idNodes)? = rootfs.value("diff_ids") else {
            throw .notAnImage("the config \(configName) has no rootfs.diff_ids to check the layers against")
        }
        let diffIDs = idNodes.compactMap { node -> String? in
            guard case .string(let id) = node.value, id.hasPrefix("sha256:"), id.count == 71, id.dropFirst(7).allSatisfy(\.isHexDigit) else { return nil }
            return id.lowercased()
        }
        guard diffIDs.count == idNodes.count, diffIDs.count == layers.count else {
            throw .notAnImage("the config \(configName) has \(idNodes.count) rootfs.diff_ids (sha256 each) for \(layers.count) layers in manifest.json")
        }
        var image = ContainerImage(store: store, description: "docker save archive \(path)", layers: layers, command: command, environment: environment)
        image.diffIDs = diffIDs
        return image
    }

    /// OCI: index.json -> (an index ->) a manifest -> the config and the layers, every blob by digest.
    private static func oci(_ store: Store, path: String, tag: String?) throws(ImageInputError) -> ContainerImage {
        var document = try store.json("index.json", digest: nil)
        for level in 0..<4 {
            guard case .object(let fields) = document.value, case .array(let manifests)? = fields.value("manifests"), !manifests.isEmpty else {
                if case .object(let fields) = document.value, fields.value("layers") != nil { break } // a manifest
                throw .notAnImage("index.json lists no manifests")
            }
            // At the top, the tagged image asked for (index.json's ref.name annotations); below
            // it, or when every entry names a platform (one multi-platform image), linux/amd64.
            let platforms = manifests.map { node -> (os: String?, architecture: String?)? in
                guard case .object(let entry) = node.value, case .object(let platform)? = entry.value("platform") else { return nil }
                return (platform.string("os"), platform.string("architecture"))
            }
            let chosen: JSONNode
            if manifests.count > 1, platforms.allSatisfy({ $0 != nil }) {
                guard let index = platforms.firstIndex(where: { $0?.os == "linux" && $0?.architecture == "amd64" }) else {
                    throw .notAnImage("the image has no linux/amd64 variant (it has \(platforms.compactMap { "\($0?.os ?? "?")/\($0?.architecture ?? "?")" }.joined(separator: ", ")))")
                }
                chosen = manifests[index]
            } else if level == 0 {
                let tagged = manifests.map { node -> [String] in
                    guard case .object(let entry) = node.value, case .object(let annotations)? = entry.value("annotations"),
                          let name = annotations.string("org.opencontainers.image.ref.name") else { return [] }
                    return [name]
                }
                chosen = manifests[try choose(among: tagged, tag: tag, path: path)]
            } else {
                chosen = manifests[0]
            }
            guard case .object(let entry) = chosen.value, let digest = entry.string("digest") else { throw .notAnImage("a manifest entry has no digest") }
            document = try store.json(try blobPath(digest), digest: digest)
        }
        guard case .object(let manifest) = document.value, case .object(let config)? = manifest.value("config"),
              let configDigest = config.string("digest"), case .array(let layerNodes)? = manifest.value("layers") else {
            throw .notAnImage("the manifest has no config and layers")
        }
        let layers = try layerNodes.map { node throws(ImageInputError) -> (String, String?) in
            guard case .object(let layer) = node.value, let digest = layer.string("digest") else { throw .notAnImage("a layer has no digest") }
            return (try blobPath(digest), String(digest.dropFirst("sha256:".count)))
        }
        let (command, environment) = try Self.runConfig(try store.json(try blobPath(configDigest), digest: configDigest), name: configDigest)
        return ContainerImage(store: store, description: "OCI image \(path)", layers: layers, command: command, environment: environment)
    }

    /// Which of the images (each with its tags) `tag` names; with no tag, the only one. An
    /// image with several is refused naming them, and so is a tag that names none or several.
    private static func choose(among images: [[String]], tag: String?, path: String) throws(ImageInputError) -> Int {
        let names = images.enumerated().map { index, tags in tags.isEmpty ? "image \(index) (untagged)" : tags.joined(separator: ", ") }
        guard let tag else {
            guard images.count == 1 else {
                throw .notAnImage("\(path) holds \(images.count) images (\(names.joined(separator: "; "))): choose one with --image \(path):TAG")
            }
            return 0
        }
        let matching = images.indices.filter { index in images[index].contains { Self.tag($0, answers: tag) } }
        guard matching.count == 1 else {
            throw .notAnImage("\(path) has \(matching.isEmpty ? "no image" : "\(matching.count) images") tagged \(tag) (it holds: \(names.joined(separator: "; ")))")
        }
        return matching[0]
    }

    /// "localhost/my-enclave:latest" answers to itself, to "my-enclave:latest" and to "latest".
    static func tag(_ full: String, answers asked: String) -> Bool {
        if full == asked || full.hasSuffix("/" + asked) { return true }
        guard !asked.contains(":"), !asked.contains("/"), let colon = full.lastIndex(of: ":"),
              !full[colon...].contains("/") else { return false }
        return full[full.index(after: colon)...] == asked
    }

    /// A compressed archive is not read as a tar (its first bytes say so): say how to fix it.
    private static func refuseCompressed(_ path: String) throws(ImageInputError) {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        defer { close(descriptor) }
        var magic = [UInt8](repeating: 0, count: 4)
        guard read(descriptor, &magic, 4) == 4 else { return }
        if magic.prefix(2) == [0x1f, 0x8b] {
            throw .notAnImage("\(path) is gzip-compressed (docker save | gzip makes these): gunzip it first, or give docker save's own output")
        }
        if magic == [0x28, 0xb5, 0x2f, 0xfd] {
            throw .notAnImage("\(path) is zstd-compressed: decompress it first (zstd -d)")
        }
    }

    /// CMD when there is one, else ENTRYPOINT (never both: nitro-cli's rule); and ENV.
    private static func runConfig(_ config: JSONNode, name: String) throws(ImageInputError) -> ([String], [String]) {
        guard case .object(let top) = config.value else { throw .notAnImage("the config \(name) is not an object") }
        guard case .object(let run)? = top.value("config") else { return ([], []) }
        let cmd = run.strings("Cmd"), entrypoint = run.strings("Entrypoint")
        return (cmd.isEmpty ? entrypoint : cmd, run.strings("Env"))
    }

    private static func blobPath(_ digest: String) throws(ImageInputError) -> String {
        let parts = digest.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, parts[0] == "sha256", parts[1].count == 64, parts[1].allSatisfy(\.isHexDigit) else {
            throw .unsupported(what: "digest \(digest)", reason: "only sha256 digests are read")
        }
        return "blobs/sha256/" + parts[1]
    }

    private static func digest(fromBlobPath name: String) -> String? {
        guard name.hasPrefix("blobs/sha256/") else { return nil }
        let hex = String(name.dropFirst("blobs/sha256/".count))
        return hex.count == 64 ? hex : nil
    }

    /// The members of a tar archive, by name, where their data starts and how long it is.
    private static func index(archive path: String) throws(ImageInputError) -> [String: (offset: UInt64, size: UInt64)] {
        var reader = TarReader(try FileRange(path: path), what: path)
        var members: [String: (offset: UInt64, size: UInt64)] = [:]
        var links: [(name: String, target: String)] = []
        while let entry = try reader.next() {
            let name = (try? LayerTree.safePath(entry.name, layer: path)) ?? entry.name
            switch entry.kind {
            case .file: members[name] = (reader.source.offset, entry.size)
            // docker save writes some layers as links to another member ("<id>/layer.tar" -> "../<digest>.tar").
            case .symlink, .hardlink:
                let base = entry.kind == .hardlink ? "" : String(name.split(separator: "/").dropLast().joined(separator: "/"))
                links.append((name, base.isEmpty ? entry.linkName : base + "/" + entry.linkName))
            default: continue
            }
        }
        for (name, target) in links {
            // ".." resolved within the archive; a link out of it resolves to nothing.
            var parts: [Substring] = []
            for part in target.split(separator: "/") where part != "." {
                if part == ".." { _ = parts.popLast() } else { parts.append(part) }
            }
            if let member = members[parts.joined(separator: "/")] { members[name] = member }
        }
        return members
    }
}

extension ContainerImage.Store {
    func contains(_ name: String) -> Bool {
        switch self {
        case .directory(let root): return (try? Self.confined(name, in: root)).map { access($0, R_OK) == 0 } ?? false
        case .archive(_, let members): return members[name] != nil
        }
    }

    /// `name`'s real path inside the directory `root` (a real path itself): a relative path
    /// without "..", whose symlinks (docker save links layers to each other) resolve inside
    /// `root`. Anything else the image's index names would pull a file from the builder's disk
    /// into the image. The name was checked before it was resolved, so only a directory
    /// changed while the build reads it could race this; the builder's own inputs are not
    /// guarded against that.
    static func confined(_ name: String, in root: String) throws(ImageInputError) -> String {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !name.hasPrefix("/"), !parts.contains(".."), !parts.contains(""), !name.utf8.contains(0) else {
            throw .outsideImage(member: name, reason: "is not a plain path inside the image directory")
        }
        guard let resolved = realpath(root + "/" + name, nil) else {
            if errno == ENOENT || errno == ENOTDIR { throw .missingBlob(name) }
            throw .cannotOpen(path: root + "/" + name, errno: errno)
        }
        defer { free(resolved) }
        let path = String(cString: resolved)
        guard path.hasPrefix(root == "/" ? "/" : root + "/") else {
            throw .outsideImage(member: name, reason: "resolves through a symlink to \(path), outside the image directory")
        }
        return path
    }

    func size(of name: String) throws(ImageInputError) -> UInt64 {
        switch self {
        case .directory(let root):
            var info = stat()
            guard stat(try Self.confined(name, in: root), &info) == 0 else { throw .missingBlob(name) }
            return UInt64(info.st_size)
        case .archive(_, let members):
            guard let member = members[name] else { throw .missingBlob(name) }
            return member.size
        }
    }

    func open(_ name: String) throws(ImageInputError) -> FileRange {
        switch self {
        case .directory(let root):
            return try FileRange(path: try Self.confined(name, in: root))
        case .archive(let path, let members):
            guard let member = members[name] else { throw .missingBlob(name) }
            return try FileRange(path: path, offset: member.offset, length: member.size)
        }
    }

    /// A small JSON file (at most 4 MiB), checked against `digest` ("sha256:…" or bare hex) when given.
    func json(_ name: String, digest: String?) throws(ImageInputError) -> JSONNode {
        let size = try size(of: name)
        guard size <= 4 << 20 else { throw .corrupt(what: name, reason: "\(size) bytes is not a manifest or config") }
        let file = try open(name)
        var reading = file
        let bytes = try reading.readExactly(Int(size), what: name)
        if let digest {
            let wanted = digest.hasPrefix("sha256:") ? String(digest.dropFirst(7)) : digest
            let actual = file.finishDigest()
            guard actual == wanted else { throw .digestMismatch(blob: name, actual: actual) }
        }
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw .corrupt(what: name, reason: "\(error)")
        }
    }
}

extension Array where Element == JSONMember {
    func value(_ key: String) -> JSONValue? { first { $0.key == key }?.value.value }

    func string(_ key: String) -> String? {
        if case .string(let text)? = value(key) { return text }
        return nil
    }

    func strings(_ key: String) -> [String] {
        guard case .array(let items)? = value(key) else { return [] }
        return items.compactMap { if case .string(let text) = $0.value { text } else { nil } }
    }
}
