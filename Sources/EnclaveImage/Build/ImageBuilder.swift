import Commands
import DocumentReading
import Glibc

/// Builds an EIF from a root filesystem directory or a container image (an OCI layout, an OCI
/// archive, a docker save archive; its layers applied in order): the two ramdisks of the chosen layout as
/// newc cpio archives (entries sorted, inodes numbered in order, mtimes set to one time unless
/// kept), then the EIF in nitro-cli's section order. The same inputs give the same bytes.
public struct ImageBuilder {
    /// A root filesystem directory, or a container image (directory or archive).
    public var rootfs: String
    public var layout: ImageLayout
    /// The command and environment ("KEY=value") for nitro-cli's layout (its `cmd` and `env`
    /// files); empty: a container image's own CMD (else ENTRYPOINT) and ENV. enclave-init's
    /// layout reads the image's own boot JSON instead.
    public var command: [String] = []
    public var environment: [String] = []
    /// Every entry's mtime, and the metadata's build time (SOURCE_DATE_EPOCH, or 0).
    public var epoch: UInt32 = 0
    /// Keep each file's own mtime instead of `epoch`.
    public var keepMtimes = false
    /// Which image of an archive or layout that holds several (`--image PATH:TAG`).
    public var tag: String?
    public var imageName = "enclave-image"
    public var version = ""

    public init(rootfs: String, layout: ImageLayout) {
        self.rootfs = rootfs
        self.layout = layout
    }

    public func write(to output: String) throws(EIFError) -> EIFWriter.Result {
        var template = Array((output + ".build-XXXXXX").utf8CString)
        guard mkdtemp(&template) != nil else { throw .io(path: output, operation: "making a scratch directory beside", errno: errno) }
        let scratch = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var layers = LayerTree(scratch: scratch + "/layers")
        defer {
            layers.removeScratch()
            rmdir(scratch + "/layers")
            for name in ["ramdisk0", "ramdisk1"] { unlink(scratch + "/" + name) }
            rmdir(scratch)
        }
        // The image's files: a plain directory as it is, a container image's layers applied.
        let tree: DirectoryTree
        var command = self.command, environment = self.environment
        if Self.isContainerImage(rootfs) {
            do {
                let image = try ContainerImage.open(rootfs, tag: tag)
                mkdir(scratch + "/layers", 0o700)
                try image.apply(to: &layers)
                if command.isEmpty { command = image.command }
                if environment.isEmpty { environment = image.environment }
            } catch {
                throw .image(error)
            }
            tree = DirectoryTree(nodes: layers.sortedNodes)
        } else {
            tree = try DirectoryTree.read(root: rootfs)
        }
        let boot = scratch + "/ramdisk0", image = scratch + "/ramdisk1"
        let kernel: String, cmdline: [UInt8]
        var configPCR: Measurements.ConfigPCR?
        switch layout {
        case .nitroCLI(let blobs):
            guard !command.isEmpty else { throw .noCommand(image: rootfs) }
            for name in ImageLayout.blobFiles where access(blobs + "/" + name, R_OK) != 0 {
                throw .cannotOpen(path: blobs + "/" + name, errno: errno)
            }
            kernel = blobs + "/bzImage"
            try BootCheck.requireBzImage(kernel)
            // AWS's init runs the command with the image's environment, PATH included.
            try BootCheck.requireCommand(command, searchPath: environment.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) },
                                         in: ImageFiles(tree), what: self.command.isEmpty ? "the image's CMD (else ENTRYPOINT)" : "the command after --")
            cmdline = try Self.trimmedFile(blobs + "/cmdline")
            try writeArchive(boot, bootEntries(initBinary: blobs + "/init", nsmModule: blobs + "/nsm.ko", console: false))
            try writeArchive(image, nitroCLIEntries(tree, command: command, environment: environment))
        case .enclaveInit(let kernelPath, let text, let nsmModule, let initBinary, let kernelModules):
            kernel = kernelPath
            cmdline = Array(text.utf8)
            try BootCheck.requireBzImage(kernel)
            let bootJSON = try BootCheck.requireBootableConfig(in: ImageFiles(tree), cmdline: text)
            // What enclave-init will extend at boot: the exact bytes of the image's boot JSON.
            configPCR = Measurements.ConfigPCR(index: bootJSON.config.measure.pcr, value: Measurements.extendFromZero(SHA384.hash(bootJSON.bytes)))
            let modules = try kernelModules.map { directory throws(EIFError) in
                try KernelModuleSelection.select(from: directory, kernelVersion: BootCheck.kernelVersion(kernel), nsmModule: nsmModule)
            }
            try writeArchive(boot, bootEntries(initBinary: initBinary, nsmModule: nsmModule, console: true, modules: modules, cmdline: text))
            try writeArchive(image, entries(for: tree.nodes, prefix: ""))
        }
        var result = try EIFWriter.write([EIFWriter.Section(.kernel, .file(path: kernel)), EIFWriter.Section(.cmdline, .bytes(cmdline)),
                                          EIFWriter.Section(.metadata, .bytes(Array(metadata.rendered(pretty: false).utf8))),
                                          EIFWriter.Section(.ramdisk, .file(path: boot)), EIFWriter.Section(.ramdisk, .file(path: image))],
                                         to: output)
        result.measurements.config = configPCR
        return result
    }

    /// nitro-cli's metadata object, with a build time that is SOURCE_DATE_EPOCH's (or 0's): it
    /// is not measured, but it is part of the file, and the file must not change between builds.
    var metadata: JSONOutput {
        .object([("ImageName", .string(imageName)), ("ImageVersion", .string(version)),
                 ("BuildMetadata", .object([("BuildTime", .string(Self.iso8601(epoch))), ("BuildTool", .string("enclave-init")),
                                            ("BuildToolVersion", .string(BuildInfo.version)), ("OperatingSystem", .string("Linux")),
                                            ("KernelVersion", .string(""))])),
                 ("DockerInfo", .object([])), ("CustomMetadata", .null)])
    }

    // MARK: - Ramdisk 0: the init

    /// `cmdline`: enclave-init's layout writes the measured command line to /cmdline, which its
    /// self-check compares with the running one (/proc/cmdline).
    private func bootEntries(initBinary: String, nsmModule: String?, console: Bool, modules: KernelModuleSelection? = nil,
                             cmdline: String? = nil) throws(EIFError) -> [CpioEntry] {
        var entries = [CpioEntry(name: "dev", kind: .directory, permissions: 0o755, mtime: epoch)]
        // The kernel opens /dev/console for init's output; AWS's init makes its own.
        if console { entries.append(CpioEntry(name: "dev/console", kind: .characterDevice(major: 5, minor: 1), permissions: 0o600, mtime: epoch)) }
        entries.append(CpioEntry(name: "init", kind: .file(source: initBinary, size: try Self.size(of: initBinary)), permissions: 0o755, mtime: epoch))
        if let nsmModule {
            entries.append(CpioEntry(name: "nsm.ko", kind: .file(source: nsmModule, size: try Self.size(of: nsmModule)), permissions: 0o755, mtime: epoch))
        }
        if let cmdline { entries.append(CpioEntry(name: "cmdline", kind: .contents(Array((cmdline + "\n").utf8)), permissions: 0o644, mtime: epoch)) }
        if let modules {
            for module in modules.modules {
                entries.append(CpioEntry(name: module.fileName, kind: .file(source: module.source, size: try Self.size(of: module.source)),
                                         permissions: 0o644, mtime: epoch))
            }
            entries.append(CpioEntry(name: KernelModuleSelection.orderFileName, kind: .contents(modules.orderFile), permissions: 0o644, mtime: epoch))
        }
        return entries.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    // MARK: - Ramdisk 1: the image

    /// nitro-cli's ramdisk 1: `cmd` and `env`, then the image under `rootfs/` with linuxkit's
    /// rewrites (docs/design.md): no .dockerenv, Dockerfile, dev/console, dev/pts, dev/shm or
    /// etc/hostname; etc/hosts a localhost block and etc/resolv.conf a placeholder; and the
    /// mount points dev, run, sys, var, proc and tmp present.
    private func nitroCLIEntries(_ tree: DirectoryTree, command: [String], environment: [String]) -> [CpioEntry] {
        let dropped: Set<String> = [".dockerenv", "Dockerfile", "dev/console", "dev/pts", "dev/shm", "etc/hostname"]
        let replaced: [String: String] = ["etc/hosts": "127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\n",
                                          "etc/resolv.conf": "# no resolv.conf configured\n"]
        let entries = [CpioEntry(name: "cmd", kind: .contents(Self.lines(command)), permissions: 0o644, mtime: epoch),
                       CpioEntry(name: "env", kind: .contents(Self.lines(environment)), permissions: 0o644, mtime: epoch),
                       CpioEntry(name: "rootfs", kind: .directory, permissions: 0o755, mtime: epoch)]
        var nodes = tree.nodes.filter { node in !dropped.contains(node.path) && !dropped.contains(where: { node.path.hasPrefix($0 + "/") }) }
        for path in ["dev", "run", "sys", "var", "proc", "tmp"] where !nodes.contains(where: { $0.path == path }) {
            nodes.append(DirectoryTree.Node(path: path, kind: .directory, permissions: 0o755, uid: 0, gid: 0, mtime: epoch, linkOf: nil))
        }
        for path in replaced.keys where !nodes.contains(where: { $0.path == path }) {
            nodes.append(DirectoryTree.Node(path: path, kind: .contents([]), permissions: 0o644, uid: 0, gid: 0, mtime: epoch, linkOf: nil))
        }
        nodes.sort { $0.path.utf8.lexicographicallyPrecedes($1.path.utf8) }
        for index in nodes.indices {
            guard let text = replaced[nodes[index].path] else { continue }
            nodes[index].kind = .contents(Array(text.utf8))
            nodes[index].linkOf = nil
        }
        return entries + self.entries(for: nodes, prefix: "rootfs/")
    }

    /// The archive entries of `nodes` under `prefix`; a later name of a file is a hard link to
    /// its first, and every name of it carries how many there are.
    private func entries(for nodes: [DirectoryTree.Node], prefix: String) -> [CpioEntry] {
        var names: [String: UInt32] = [:]
        for node in nodes { if let first = node.linkOf { names[first, default: 1] += 1 } }
        return nodes.map { node in
            var entry = CpioEntry(name: prefix + node.path, kind: node.kind, permissions: node.permissions, uid: node.uid, gid: node.gid,
                                  mtime: keepMtimes ? node.mtime : epoch)
            if let first = node.linkOf {
                entry.kind = .hardlink(to: prefix + first)
                entry.links = names[first] ?? 2
            } else if let count = names[node.path] {
                entry.links = count
            }
            return entry
        }
    }

    private func writeArchive(_ path: String, _ entries: [CpioEntry]) throws(EIFError) {
        var writer = try CpioWriter(path: path)
        for entry in entries { try writer.add(entry) }
        try writer.finish()
    }

    // MARK: - Helpers

    /// A file (an archive), or a directory holding an OCI layout or a docker save export.
    static func isContainerImage(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        if info.st_mode & S_IFMT != S_IFDIR { return true }
        return access(path + "/oci-layout", F_OK) == 0 || (access(path + "/manifest.json", F_OK) == 0 && access(path + "/etc", F_OK) != 0)
    }

    static func lines(_ items: [String]) -> [UInt8] { Array(items.map { $0 + "\n" }.joined().utf8) }

    static func size(of path: String) throws(EIFError) -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .cannotOpen(path: path, errno: errno) }
        return UInt64(info.st_size)
    }

    static func trimmedFile(_ path: String) throws(EIFError) -> [UInt8] {
        let file = try ChunkedFile.open(path, flags: O_RDONLY)
        defer { file.close() }
        let size = try file.size
        guard size <= 4096 else { throw .tooLarge(what: path, size: size, limit: 4096) }
        var bytes = try file.read(Int(size), at: 0, what: path)
        while let last = bytes.last, last == 10 || last == 13 || last == 32 { bytes.removeLast() }
        return bytes
    }

    /// "2026-12-07T10:15:00+00:00"
    static func iso8601(_ epoch: UInt32) -> String {
        var seconds = time_t(epoch)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))+00:00"
    }
}
