@testable import EnclaveImage
import Foundation
import Testing
import TestSupport

/// Images built from a directory, read back by GNU cpio (listing and extracting the ramdisks)
/// and by the EIF reader; the same inputs built twice, with files touched between, are the
/// same bytes.
@Suite(.serialized) struct ImageBuilderTests {
    let directory: TemporaryDirectory
    var root: String { directory.path + "/root" }

    init() throws {
        directory = try TemporaryDirectory()
        let fm = FileManager.default
        for folder in ["root/etc", "root/bin", "root/usr/share", "blobs"] { try fm.createDirectory(atPath: directory.path + "/" + folder, withIntermediateDirectories: true) }
        try "hello\n".write(toFile: root + "/etc/motd", atomically: false, encoding: .utf8)
        try fm.linkItem(atPath: root + "/etc/motd", toPath: root + "/usr/share/motd-link")
        try fm.createSymbolicLink(atPath: root + "/bin/motd", withDestinationPath: "../etc/motd")
        try "x\n".write(toFile: root + "/bin/su", atomically: false, encoding: .utf8)
        chmod(root + "/bin/su", 0o4755)
        try "build-host\n".write(toFile: root + "/etc/hostname", atomically: false, encoding: .utf8)
        try "10.0.0.1 corp\n".write(toFile: root + "/etc/hosts", atomically: false, encoding: .utf8)
        for (name, size) in [("bzImage", 20_000), ("init", 5000), ("nsm.ko", 3000)] {
            var bytes = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 * 7) })
            if name == "bzImage" { FakeBlobs.markAsBzImage(&bytes) }
            fm.createFile(atPath: directory.path + "/blobs/" + name, contents: bytes)
        }
        // What the checks before a build look for: the command, and the boot JSON naming it.
        try "#!/bin/sh\n".write(toFile: root + "/bin/app", atomically: false, encoding: .utf8)
        chmod(root + "/bin/app", 0o755)
        try fm.createDirectory(atPath: root + "/etc/enclave-init", withIntermediateDirectories: true)
        try #"{"version": 1, "app": {"command": ["/bin/app"]}}"#.write(toFile: root + "/etc/enclave-init/boot.json", atomically: false, encoding: .utf8)
        try "reboot=k panic=30 pci=off nomodules console=ttyS0\n".write(toFile: directory.path + "/blobs/cmdline", atomically: false, encoding: .utf8)
    }

    private func build(_ layout: ImageLayout, to name: String) throws -> (path: String, result: EIFWriter.Result) {
        var builder = ImageBuilder(rootfs: root, layout: layout)
        builder.command = ["/bin/app", "--flag"]
        builder.environment = ["PATH=/bin", "A=1"]
        let path = directory.path + "/" + name
        return (path, try builder.write(to: path))
    }

    /// Ramdisk `index` (0 or 1) of an image, cut out of the file.
    private func ramdisk(_ index: Int, of path: String) throws -> String {
        let description = try EIFDescription.read(path: path)
        let section = description.sections.filter { $0.type == .ramdisk }[index]
        let bytes = try #require(FileManager.default.contents(atPath: path))
        let out = directory.path + "/ramdisk\(index)-\(UInt32.random(in: 0...UInt32.max))"
        FileManager.default.createFile(atPath: out, contents: bytes.subdata(in: Int(section.offset) + 12..<Int(section.offset + 12 + section.size)))
        return out
    }

    private func cpio(_ arguments: String, archive: String, in folder: String? = nil) throws -> String {
        let cd = folder.map { "cd \($0) && " } ?? ""
        let result = try ProcessRunner.run("/bin/sh", ["-c", "\(cd)cpio \(arguments) < \(archive)"])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout
    }

    @Test func nitroCLIsLayoutAsGNUCpioReadsIt() throws {
        let (path, _) = try build(.nitroCLI(blobs: directory.path + "/blobs"), to: "nitro.eif")
        #expect(try cpio("-it", archive: ramdisk(0, of: path)) == "dev\ninit\nnsm.ko\n")
        let listing = try cpio("-it", archive: ramdisk(1, of: path)).split(separator: "\n").map(String.init)
        #expect(listing.prefix(3) == ["cmd", "env", "rootfs"])
        for expected in ["rootfs/bin/motd", "rootfs/bin/su", "rootfs/etc/motd", "rootfs/usr/share/motd-link",
                         "rootfs/dev", "rootfs/proc", "rootfs/run", "rootfs/sys", "rootfs/tmp", "rootfs/var"] {
            #expect(listing.contains(expected), "\(expected) missing from \(listing)")
        }
        #expect(!listing.contains("rootfs/etc/hostname"), "linuxkit drops etc/hostname")

        let out = directory.path + "/extracted"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        _ = try cpio("-id --quiet", archive: ramdisk(1, of: path), in: out)
        #expect(try String(contentsOfFile: out + "/cmd", encoding: .utf8) == "/bin/app\n--flag\n")
        #expect(try String(contentsOfFile: out + "/env", encoding: .utf8) == "PATH=/bin\nA=1\n")
        #expect(try String(contentsOfFile: out + "/rootfs/etc/hosts", encoding: .utf8).hasPrefix("127.0.0.1       localhost\n"))
        #expect(try String(contentsOfFile: out + "/rootfs/etc/resolv.conf", encoding: .utf8) == "# no resolv.conf configured\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out + "/rootfs/bin/motd") == "../etc/motd")
        let motd = try FileManager.default.attributesOfItem(atPath: out + "/rootfs/etc/motd")
        let link = try FileManager.default.attributesOfItem(atPath: out + "/rootfs/usr/share/motd-link")
        #expect(motd[.systemFileNumber] as? Int == link[.systemFileNumber] as? Int, "the hard link is one file")
        #expect(try String(contentsOfFile: out + "/rootfs/usr/share/motd-link", encoding: .utf8) == "hello\n")
        #expect((try FileManager.default.attributesOfItem(atPath: out + "/rootfs/bin/su")[.posixPermissions] as? Int) == 0o4755)
    }

    @Test func enclaveInitsLayoutPutsItselfInTheFirstRamdiskAndTheImageAtTheRoot() throws {
        let (path, result) = try build(.enclaveInit(kernel: directory.path + "/blobs/bzImage", cmdline: ImageLayout.enclaveInitCmdline,
                                                    nsmModule: directory.path + "/blobs/nsm.ko", initBinary: directory.path + "/blobs/init"), to: "own.eif")
        #expect(try cpio("-it", archive: ramdisk(0, of: path)) == "cmdline\ndev\ndev/console\ninit\nnsm.ko\n")
        let listing = try cpio("-it", archive: ramdisk(1, of: path))
        #expect(listing.hasPrefix("bin\nbin/app\nbin/motd\nbin/su\netc\netc/enclave-init\netc/enclave-init/boot.json\netc/hostname\netc/hosts\netc/motd\n"), "\(listing)")
        let description = try EIFDescription.read(path: path)
        #expect(description.cmdline == ImageLayout.enclaveInitCmdline)
        // The boot JSON's PCR: build computes it from the file, describe-eif finds the file in the image.
        let bootJSON = try #require(FileManager.default.contents(atPath: root + "/etc/enclave-init/boot.json"))
        let python = try ProcessRunner.run("/usr/bin/python3", ["-c", "import hashlib, sys; d = open(sys.argv[1], 'rb').read(); "
                                                                + "print(hashlib.sha384(bytes(48) + hashlib.sha384(d).digest()).hexdigest())", root + "/etc/enclave-init/boot.json"])
        #expect(bootJSON.count > 0 && result.measurements.config.map { "PCR\($0.index) " + Measurements.hex($0.value) } == "PCR16 " + python.stdout.dropLast())
        #expect(description.measurements.config == result.measurements.config)
        #expect(description.lines.contains { $0.hasPrefix("PCR16 \(python.stdout.dropLast()) (the image's boot JSON") })
        #expect(try EIFDescription.read(path: build(.nitroCLI(blobs: directory.path + "/blobs"), to: "aws.eif").path).measurements.config == nil)
        // The app's files change PCR2 only.
        try "changed\n".write(toFile: root + "/etc/motd", atomically: false, encoding: .utf8)
        let (_, changed) = try build(.enclaveInit(kernel: directory.path + "/blobs/bzImage", cmdline: ImageLayout.enclaveInitCmdline,
                                                  nsmModule: directory.path + "/blobs/nsm.ko", initBinary: directory.path + "/blobs/init"), to: "own2.eif")
        #expect(changed.measurements.pcr1 == result.measurements.pcr1)
        #expect(changed.measurements.pcr2 != result.measurements.pcr2)
        #expect(changed.measurements.pcr0 != result.measurements.pcr0)
    }

    /// A modular kernel's drivers: in the first ramdisk beside init, with the order file
    /// enclave-init reads (the real package boots in the nitro tier).
    @Test func kernelModulesGoIntoTheFirstRamdiskWithTheirOrder() throws {
        let release = "6.12.0-test-amd64", package = directory.path + "/package", modules = package + "/lib/modules/" + release
        var kernel = try #require(FileManager.default.contents(atPath: directory.path + "/blobs/bzImage"))
        FakeBlobs.markKernelVersion(&kernel, release)
        FileManager.default.createFile(atPath: directory.path + "/modular-bzImage", contents: kernel)
        for name in ["drivers/virtio/virtio_mmio", "net/vmw_vsock/vsock", "net/vmw_vsock/vmw_vsock_virtio_transport_common",
                     "net/vmw_vsock/vmw_vsock_virtio_transport", "drivers/misc/nsm"] {
            let path = modules + "/kernel/" + name + ".ko"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try "module".write(toFile: path, atomically: false, encoding: .utf8)
        }
        #expect(BootCheck.kernelVersion(directory.path + "/modular-bzImage") == release)
        let (path, _) = try build(.enclaveInit(kernel: directory.path + "/modular-bzImage", cmdline: ImageLayout.enclaveInitCmdline, nsmModule: nil,
                                               initBinary: directory.path + "/blobs/init", kernelModules: package), to: "modular.eif")
        let archive = try ramdisk(0, of: path)
        #expect(try cpio("-it", archive: archive) == "cmdline\ndev\ndev/console\ninit\nmodules_load_order\nnsm.ko\nvirtio_mmio.ko\nvmw_vsock_virtio_transport.ko\n"
                + "vmw_vsock_virtio_transport_common.ko\nvsock.ko\n")
        let out = directory.path + "/extracted-modules"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        _ = try cpio("-id --quiet", archive: archive, in: out)
        #expect(try String(contentsOfFile: out + "/modules_load_order", encoding: .utf8)
                == "virtio_mmio.ko\nvsock.ko\nvmw_vsock_virtio_transport_common.ko\nvmw_vsock_virtio_transport.ko\nnsm.ko\n")
    }

    @Test func theSameInputsGiveTheSameBytesWhateverTheFilesMtimes() throws {
        let layout = ImageLayout.nitroCLI(blobs: directory.path + "/blobs")
        let (first, _) = try build(layout, to: "same.eif")
        let firstBytes = FileManager.default.contents(atPath: first)
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        utimensat(AT_FDCWD, root + "/etc/motd", &times, 0)
        let (second, _) = try build(layout, to: "same.eif")
        #expect(FileManager.default.contents(atPath: second) == firstBytes)

        var keeping = ImageBuilder(rootfs: root, layout: layout)
        keeping.keepMtimes = true
        keeping.command = ["/bin/app", "--flag"]
        keeping.environment = ["PATH=/bin", "A=1"]
        let kept = try keeping.write(to: directory.path + "/kept.eif")
        let normalised = try EIFDescription.read(path: first).measurements
        #expect(kept.measurements.pcr2 != normalised.pcr2, "kept mtimes are measured")
    }

    @Test func aDirectoryWithoutACommandCannotUseAWSsInit() throws {
        #expect(throws: EIFError.noCommand(image: root)) {
            _ = try ImageBuilder(rootfs: root, layout: .nitroCLI(blobs: directory.path + "/blobs")).write(to: directory.path + "/n.eif")
        }
    }

    @Test func aMissingBlobIsNamed() throws {
        try FileManager.default.removeItem(atPath: directory.path + "/blobs/nsm.ko")
        #expect(throws: EIFError.cannotOpen(path: directory.path + "/blobs/nsm.ko", errno: ENOENT)) {
            try build(.nitroCLI(blobs: directory.path + "/blobs"), to: "x.eif")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/x.eif"))
    }
}
