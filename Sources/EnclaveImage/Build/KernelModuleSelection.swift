import DocumentReading
import Glibc

/// `build --kernel-modules DIR`: the modules a modular kernel needs to be an enclave's kernel —
/// virtio-mmio (the device bus), vsock with its virtio transport, and the NSM driver — with
/// their dependencies, taken from the kernel's own modules and written into ramdisk 0 beside
/// `/modules_load_order` (nitro-cli 2.0's file: one module file name per line, dependencies
/// first, nsm last), which enclave-init as the kernel's init loads before it needs vsock.
///
/// DIR is an unpacked kernel package (`dpkg-deb -x linux-image-….deb DIR`, `rpm2cpio … | cpio
/// -id`: it holds lib/modules/VERSION), or lib/modules/VERSION itself. A driver the kernel has
/// built in (`modules.builtin`) is skipped. Dependencies come from `modules.dep` when depmod
/// made one; without it (a package as shipped) the drivers' known order is used, which is
/// their dependency order. Compressed modules (.ko.xz, .ko.zst, .ko.gz) are taken as they are:
/// the kernel decompresses them itself (CONFIG_MODULE_DECOMPRESS), which is checked against
/// the package's boot/config-VERSION when it has one.
struct KernelModuleSelection: Equatable {
    /// The drivers an enclave's kernel needs, in an order that loads (dependencies first).
    static let required = ["virtio_mmio", "vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport", "nsm"]
    static let orderFileName = "modules_load_order"
    static let compressedSuffixes = [".ko.xz", ".ko.zst", ".ko.gz"]

    struct Module: Equatable {
        /// The file name in the ramdisk (and the order file's line): `vsock.ko.xz`.
        var fileName: String
        /// Where it is read from.
        var source: String
    }

    /// The kernel version the modules are for (the directory's name under lib/modules).
    var version: String
    var modules: [Module]
    /// Drivers the kernel has built in, so nothing was taken for them.
    var builtIn: [String]

    /// The order file's bytes.
    var orderFile: [UInt8] { Array(modules.map { $0.fileName + "\n" }.joined().utf8) }

    /// `nsmModule`: --nsm-ko was given, so the NSM driver need not come from DIR.
    static func select(from directory: String, kernelVersion: String?, nsmModule: String?) throws(EIFError) -> KernelModuleSelection {
        let root = try modulesRoot(directory)
        let version = String(root.split(separator: "/").last ?? "")
        if let kernelVersion, kernelVersion != version {
            throw .cannotBoot("the modules in \(directory) are for kernel \(version), but --kernel is \(kernelVersion): a kernel loads only its own "
                              + "modules; give the modules of the same package")
        }
        let available = findModules(root + "/kernel", relative: "kernel")
        let builtIn = Set(lines(root + "/modules.builtin").map { moduleName(String($0.split(separator: "/").last ?? "")) })
        let dependencies = parseDependencies(lines(root + "/modules.dep"))
        var ordered: [String] = []
        var skipped: [String] = []
        func add(_ name: String, wantedBy: String, depth: Int) throws(EIFError) {
            guard !ordered.contains(name), !skipped.contains(name) else { return }
            if builtIn.contains(name) {
                skipped.append(name)
                return
            }
            guard let path = available[name] else {
                if name == "nsm", nsmModule != nil { return } // --nsm-ko's /nsm.ko, loaded after the list
                let why = name == wantedBy ? "an enclave's kernel needs it" : "\(wantedBy) needs it"
                throw .cannotBoot("the kernel's modules in \(directory) have no \(name) (neither a module file nor built in): \(why)"
                                  + (name == "nsm" ? "; kernels before 6.8 have no NSM driver of their own: give AWS's with --nsm-ko" : ""))
            }
            guard depth < 32 else { throw .cannotBoot("modules.dep in \(directory) loops through \(name)") }
            for dependency in dependencies[path] ?? [] { try add(moduleName(String(dependency.split(separator: "/").last ?? "")), wantedBy: name, depth: depth + 1) }
            ordered.append(name)
        }
        for name in required { try add(name, wantedBy: name, depth: 0) }
        let modules = ordered.map { name in
            let path = available[name]!
            return Module(fileName: String(path.split(separator: "/").last!), source: root + "/" + path)
        }
        if modules.contains(where: { module in compressedSuffixes.contains { module.fileName.hasSuffix($0) } }),
           let config = kernelConfig(directory, version: version), !config.contains("CONFIG_MODULE_DECOMPRESS=y") {
            throw .cannotBoot("the modules in \(directory) are compressed, and this kernel cannot decompress them (CONFIG_MODULE_DECOMPRESS is not set "
                              + "in its config): decompress them first (unxz, unzstd) in place")
        }
        return KernelModuleSelection(version: version, modules: modules, builtIn: skipped)
    }

    /// lib/modules/VERSION: DIR itself, or the one under DIR/lib/modules or DIR/usr/lib/modules.
    static func modulesRoot(_ directory: String) throws(EIFError) -> String {
        var status = stat()
        if stat(directory + "/kernel", &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR { return directory }
        for parent in [directory + "/lib/modules", directory + "/usr/lib/modules"] {
            let versions = entries(parent).filter { stat(parent + "/" + $0 + "/kernel", &status) == 0 }
            if versions.count == 1 { return parent + "/" + versions[0] }
            if versions.count > 1 {
                throw .cannotBoot("\(parent) holds the modules of \(versions.count) kernels (\(versions.sorted().joined(separator: ", "))): "
                                  + "give --kernel-modules \(parent)/VERSION for the one --kernel is")
            }
        }
        throw .cannotBoot("\(directory) holds no kernel modules (no kernel/ there, nor lib/modules/VERSION/kernel/): give an unpacked kernel "
                          + "package (dpkg-deb -x linux-image-….deb DIR) or its lib/modules/VERSION directory")
    }

    /// Module name → path relative to the modules root, for every module file under `directory`.
    private static func findModules(_ directory: String, relative: String) -> [String: String] {
        var found: [String: String] = [:]
        var status = stat()
        for name in entries(directory).sorted() {
            let path = directory + "/" + name
            guard lstat(path, &status) == 0 else { continue }
            if (status.st_mode & S_IFMT) == S_IFDIR {
                found.merge(findModules(path, relative: relative + "/" + name)) { first, _ in first }
            } else if (status.st_mode & S_IFMT) == S_IFREG, name.hasSuffix(".ko") || compressedSuffixes.contains(where: name.hasSuffix) {
                found[moduleName(name)] = found[moduleName(name)] ?? relative + "/" + name
            }
        }
        return found
    }

    /// "vmw_vsock_virtio_transport.ko.xz" → "vmw_vsock_virtio_transport" ('-' and '_' are one to the kernel).
    static func moduleName(_ fileName: String) -> String {
        var name = fileName
        for suffix in compressedSuffixes + [".ko"] where name.hasSuffix(suffix) {
            name = String(name.dropLast(suffix.count))
            break
        }
        return name.replacing("-", with: "_")
    }

    /// modules.dep: "kernel/a.ko.xz: kernel/b.ko.xz kernel/c.ko.xz" (what a.ko needs).
    static func parseDependencies(_ lines: [Substring]) -> [String: [String]] {
        var dependencies: [String: [String]] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            dependencies[String(line[..<colon])] = line[line.index(after: colon)...].split(separator: " ").map(String.init)
        }
        return dependencies
    }

    private static func kernelConfig(_ directory: String, version: String) -> String? {
        for path in [directory + "/boot/config-" + version, directory + "/../../../boot/config-" + version, directory + "/config"] {
            if let bytes = read(path, limit: 1 << 22) { return String(decoding: bytes, as: UTF8.self) }
        }
        return nil
    }

    private static func lines(_ path: String) -> [Substring] {
        guard let bytes = read(path, limit: 1 << 24) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n")
    }

    private static func read(_ path: String, limit: Int) -> [UInt8]? { try? FileContents.read(path, limit: limit) }

    private static func entries(_ directory: String) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
