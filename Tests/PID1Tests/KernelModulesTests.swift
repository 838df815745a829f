import Foundation
import Glibc
@testable import PID1
import Testing
import TestSupport

/// /modules_load_order as the enclave's init reads it. Loading is seen only where it cannot touch
/// this machine's kernel (files that are not there); real modules load in the nitro tier.
@Suite struct KernelModulesTests {
    let root: TemporaryDirectory

    init() throws {
        root = try TemporaryDirectory()
    }

    @Test func theOrderFileIsReadLineByLine() throws {
        _ = try root.write("modules_load_order", "# drivers\nvirtio_mmio.ko.xz\n\n/vsock.ko\n  vmw_vsock_virtio_transport.ko.zst  \nmodules/nsm.ko\n")
        #expect(try KernelModules.listed(root: root.path) == ["virtio_mmio.ko.xz", "vsock.ko", "vmw_vsock_virtio_transport.ko.zst", "modules/nsm.ko"])
        // No file: nothing to load (a kernel with the drivers built in, or AWS's layout).
        #expect(try KernelModules.listed(orderFile: "/nothing-here", root: root.path) == nil)
    }

    @Test(arguments: ["../etc/shadow.ko", "vsock", "vsock.ko.bz2", "sub/../../x.ko"])
    func aLineThatIsNoModuleUnderTheRootIsRefused(_ line: String) throws {
        _ = try root.write("modules_load_order", "vsock.ko\n\(line)\n")
        #expect(throws: KernelModules.ListFailure.badLine(number: 2, text: line)) { try KernelModules.listed(root: root.path) }
    }

    @Test func aMissingModuleIsNamedWithTheKernelsReasonAndTheRestAreTried() {
        let report = KernelModules.load(["absent-a.ko", "absent-b.ko.xz"], root: root.path)
        #expect(report.loaded.isEmpty && report.failed.map(\.name) == ["absent-a.ko", "absent-b.ko.xz"])
        #expect(report.failed.allSatisfy { $0.errno == ENOENT })
        #expect(report.description == "loaded 0 modules from /modules_load_order; absent-a.ko FAILED: No such file or directory (the file is not in the image); "
                + "absent-b.ko.xz FAILED: No such file or directory (the file is not in the image)")
    }
}
