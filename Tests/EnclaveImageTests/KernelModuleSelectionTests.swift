@testable import EnclaveImage
import Foundation
import Testing
import TestSupport

/// `build --kernel-modules`: which modules of a kernel package go into the image, in what order,
/// and the refusals that name their fix. The packages are laid out as Debian's linux-image
/// packages are (lib/modules/VERSION/kernel/…, modules.builtin, boot/config-VERSION); the real
/// one boots in the nitro tier.
@Suite struct KernelModuleSelectionTests {
    let directory: TemporaryDirectory
    let version = "6.12.0-test-amd64"
    var package: String { directory.path + "/package" }
    var modules: String { package + "/lib/modules/" + version }

    static let paths = ["virtio_mmio": "kernel/drivers/virtio/virtio_mmio.ko.xz", "vsock": "kernel/net/vmw_vsock/vsock.ko.xz",
                        "vmw_vsock_virtio_transport_common": "kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz",
                        "vmw_vsock_virtio_transport": "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz",
                        "nsm": "kernel/drivers/misc/nsm.ko.xz", "vsock_diag": "kernel/net/vmw_vsock/vsock_diag.ko.xz"]

    init() throws {
        directory = try TemporaryDirectory()
        for (name, path) in Self.paths { try write(modules + "/" + path, "module \(name)") }
        try write(modules + "/modules.builtin", "kernel/drivers/virtio/virtio.ko\n")
        try write(package + "/boot/config-" + version, "CONFIG_MODULES=y\nCONFIG_MODULE_DECOMPRESS=y\n")
    }

    private func write(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    private func failure(_ body: () throws(EIFError) -> KernelModuleSelection) -> String {
        do {
            let selection = try body()
            return "accepted: \(selection)"
        } catch {
            return "\(error)"
        }
    }

    @Test func aPackageAsShippedGivesTheDriversInTheirLoadingOrder() throws {
        let selection = try KernelModuleSelection.select(from: package, kernelVersion: version, nsmModule: nil)
        #expect(selection.modules.map(\.fileName) == ["virtio_mmio.ko.xz", "vsock.ko.xz", "vmw_vsock_virtio_transport_common.ko.xz",
                                                     "vmw_vsock_virtio_transport.ko.xz", "nsm.ko.xz"])
        #expect(selection.modules[1].source == modules + "/kernel/net/vmw_vsock/vsock.ko.xz")
        #expect(String(decoding: selection.orderFile, as: UTF8.self)
                == "virtio_mmio.ko.xz\nvsock.ko.xz\nvmw_vsock_virtio_transport_common.ko.xz\nvmw_vsock_virtio_transport.ko.xz\nnsm.ko.xz\n")
        // lib/modules/VERSION itself is taken too.
        #expect(try KernelModuleSelection.select(from: modules, kernelVersion: nil, nsmModule: nil) == selection)
    }

    @Test func modulesDepAddsDependenciesFirstAndBuiltInDriversAreSkipped() throws {
        try write(modules + "/kernel/net/extra/vsock_helper.ko.xz", "helper")
        try write(modules + "/modules.dep", """
            kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.xz: kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz kernel/net/vmw_vsock/vsock.ko.xz
            kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.xz: kernel/net/vmw_vsock/vsock.ko.xz kernel/net/extra/vsock_helper.ko.xz
            kernel/net/vmw_vsock/vsock.ko.xz:
            """)
        try write(modules + "/modules.builtin", "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_mmio.ko\n")
        let selection = try KernelModuleSelection.select(from: package, kernelVersion: version, nsmModule: nil)
        #expect(selection.modules.map(\.fileName) == ["vsock.ko.xz", "vsock_helper.ko.xz", "vmw_vsock_virtio_transport_common.ko.xz",
                                                     "vmw_vsock_virtio_transport.ko.xz", "nsm.ko.xz"])
        #expect(selection.builtIn == ["virtio_mmio"])
    }

    @Test func eachRefusalNamesItsFix() throws {
        #expect(failure { () throws(EIFError) in try KernelModuleSelection.select(from: package, kernelVersion: "6.1.0-9-amd64", nsmModule: nil) }
            .contains("the modules in \(package) are for kernel \(version), but --kernel is 6.1.0-9-amd64"))
        try FileManager.default.removeItem(atPath: modules + "/" + Self.paths["nsm"]!)
        #expect(failure { () throws(EIFError) in try KernelModuleSelection.select(from: package, kernelVersion: version, nsmModule: nil) }
            .contains("have no nsm (neither a module file nor built in): an enclave's kernel needs it; kernels before 6.8 have no NSM driver of their own: give AWS's with --nsm-ko"))
        // With --nsm-ko the driver comes from /nsm.ko, after the list.
        let withAWS = try KernelModuleSelection.select(from: package, kernelVersion: version, nsmModule: "/blobs/nsm.ko")
        #expect(withAWS.modules.last?.fileName == "vmw_vsock_virtio_transport.ko.xz")
        try FileManager.default.removeItem(atPath: modules + "/" + Self.paths["vsock"]!)
        #expect(failure { () throws(EIFError) in try KernelModuleSelection.select(from: package, kernelVersion: version, nsmModule: "/x") }
            .contains("have no vsock (neither a module file nor built in)"))
        try write(modules + "/" + Self.paths["vsock"]!, "vsock")
        try write(package + "/boot/config-" + version, "CONFIG_MODULES=y\n# CONFIG_MODULE_DECOMPRESS is not set\n")
        #expect(failure { () throws(EIFError) in try KernelModuleSelection.select(from: package, kernelVersion: version, nsmModule: "/x") }
            .contains("this kernel cannot decompress them (CONFIG_MODULE_DECOMPRESS is not set in its config): decompress them first"))
        try write(package + "/lib/modules/6.12.1-other/kernel/x.ko", "x")
        #expect(failure { () throws(EIFError) in try KernelModuleSelection.select(from: package, kernelVersion: version, nsmModule: nil) }
            .contains("holds the modules of 2 kernels (\(version), 6.12.1-other)"))
        #expect(failure { () throws(EIFError) in try KernelModuleSelection.select(from: directory.path + "/nothing", kernelVersion: nil, nsmModule: nil) }
            .contains("holds no kernel modules"))
    }
}
