import BootConfig
import Glibc
import Processes

/// What `build` checks before it writes an EIF, so that an image that cannot boot is refused
/// here (exit 65, with what to do) instead of being measured, shipped and found dead in an
/// enclave with no console: the kernel is a bzImage; with enclave-init's layout the image has
/// the boot JSON the kernel's init will read and `check` accepts it; with either layout the
/// command that will run is in the image and executable.
enum BootCheck {
    /// A Linux x86 kernel image as the boot protocol defines it: "HdrS" at offset 0x202.
    static func requireBzImage(_ path: String) throws(EIFError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        defer { close(descriptor) }
        var magic = [UInt8](repeating: 0, count: 4)
        let read = pread(descriptor, &magic, 4, 0x202)
        guard read == 4, magic == Array("HdrS".utf8) else {
            throw .cannotBoot("\(path) is not a bzImage (no Linux boot header \"HdrS\" at 0x202): give the kernel the enclave boots, "
                              + "such as nitro-cli's blobs/bzImage or a distribution's /boot/vmlinuz-*")
        }
    }

    /// The kernel's release ("6.12.95+deb12-cloud-amd64"): the boot protocol's kernel_version
    /// field (offset 0x20E) points at a string 0x200 further on, its first word the release.
    static func kernelVersion(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var field: UInt16 = 0
        guard pread(descriptor, &field, 2, 0x20E) == 2, field != 0 else { return nil }
        var text = [UInt8](repeating: 0, count: 256)
        let count = pread(descriptor, &text, text.count, off_t(Int(UInt16(littleEndian: field)) + 0x200))
        guard count > 0 else { return nil }
        let release = text.prefix(count).prefix { $0 != 0 && $0 != 0x20 }
        return release.isEmpty ? nil : String(decoding: release, as: UTF8.self)
    }

    /// enclave-init's layout: the boot JSON at the path the kernel command line gives
    /// (ENCLAVE_INIT_CONFIG=, else the default) is in the image, `check` accepts it, and its
    /// app.command is there to run.
    @discardableResult
    static func requireBootableConfig(in files: ImageFiles, cmdline: String) throws(EIFError) -> (config: BootConfiguration, bytes: [UInt8]) {
        let path = cmdline.split(separator: " ").first { $0.hasPrefix(BootConfigLoader.environmentVariable + "=") }
            .map { String($0.dropFirst(BootConfigLoader.environmentVariable.count + 1)) } ?? BootConfigLoader.defaultPath
        guard let node = files.resolve(path) else {
            throw .cannotBoot("the image has no \(path), the boot JSON enclave-init reads as the kernel's init: "
                              + "COPY your boot.json to \(path) in the Dockerfile (or set ENCLAVE_INIT_CONFIG= on --cmdline)")
        }
        let bytes: [UInt8]
        do { bytes = try files.contents(of: node, limit: 1 << 20) } catch {
            throw .cannotBoot("the image's \(path) cannot be read: \(error)")
        }
        let config: BootConfiguration
        do {
            config = try BootConfigLoader.decode(bytes, source: "the image's \(path)")
        } catch {
            throw .cannotBoot("\(error)\nfix the boot JSON in the image; `enclave-init check --config boot.json` says the same before a build")
        }
        try requireCommand(config.app.command, searchPath: config.app.env.last { $0.key == "PATH" }?.value,
                           in: files, what: "app.command of the image's \(path)")
        return (config, bytes)
    }

    /// The command's program is in the image and executable: an absolute or relative path as
    /// it is, a bare name searched in `searchPath` (else the standard one), symlinks followed
    /// inside the image.
    static func requireCommand(_ command: [String], searchPath: String?, in files: ImageFiles, what: String) throws(EIFError) {
        guard let program = command.first, !program.isEmpty else { throw .cannotBoot("\(what) is empty: nothing would run") }
        let candidates: [String]
        if program.contains("/") {
            candidates = [program.hasPrefix("/") ? program : "/" + program]
        } else {
            let directories = (searchPath ?? ExecutableLookup.defaultSearchPath).split(separator: ":")
            candidates = directories.map { "\($0)/\(program)" }
        }
        var found: [String] = []
        for candidate in candidates {
            guard let node = files.resolve(candidate) else { continue }
            switch node.kind {
            case .file, .contents:
                if node.permissions & 0o111 != 0 { return }
                found.append("\(candidate) is not executable (mode \(String(node.permissions & 0o7777, radix: 8)))")
            case .directory:
                found.append("\(candidate) is a directory")
            default:
                found.append("\(candidate) is not a regular file")
            }
        }
        let inPath = program.contains("/") ? "" : " in PATH=\(searchPath ?? ExecutableLookup.defaultSearchPath)"
        let reason = found.isEmpty ? "\(program) is not in the image\(inPath)" : found.joined(separator: "; ")
        throw .cannotBoot("\(what) (\(command.joined(separator: " "))): \(reason); install it in the image or name the program that is there")
    }
}

/// The image's files by path, as the EIF will hold them, for the checks.
struct ImageFiles {
    private let nodes: [String: DirectoryTree.Node]

    init(_ tree: DirectoryTree) {
        nodes = Dictionary(tree.nodes.map { ($0.path, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// The node an absolute path names, symlinks followed (inside the image: ".." stops at its
    /// root, as in the enclave); nil when there is none or the links loop.
    func resolve(_ path: String) -> DirectoryTree.Node? {
        var pending = path.split(separator: "/").map(String.init)
        var current: [String] = []
        var hops = 0
        while !pending.isEmpty {
            let component = pending.removeFirst()
            if component == "." || component.isEmpty { continue }
            if component == ".." {
                if !current.isEmpty { current.removeLast() }
                continue
            }
            let candidate = (current + [component]).joined(separator: "/")
            guard let node = nodes[candidate] else { return nil }
            if case .symlink(let target) = node.kind {
                hops += 1
                guard hops <= 40 else { return nil }
                if target.hasPrefix("/") { current = [] }
                pending = target.split(separator: "/").map(String.init) + pending
                continue
            }
            current.append(component)
        }
        return current.isEmpty ? nil : nodes[current.joined(separator: "/")]
    }

    /// A file's bytes (at most `limit`).
    func contents(of node: DirectoryTree.Node, limit: Int) throws(EIFError) -> [UInt8] {
        switch node.kind {
        case .contents(let bytes):
            guard bytes.count <= limit else { throw .tooLarge(what: node.path, size: UInt64(bytes.count), limit: UInt64(limit)) }
            return bytes
        case .file(let source, let size):
            guard size <= UInt64(limit) else { throw .tooLarge(what: node.path, size: size, limit: UInt64(limit)) }
            let file = try ChunkedFile.open(source, flags: O_RDONLY)
            defer { file.close() }
            return try file.read(Int(size), at: 0, what: node.path)
        default:
            throw .cannotBoot("\(node.path) is not a regular file")
        }
    }
}
