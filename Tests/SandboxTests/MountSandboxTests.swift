import Foundation
import Testing
import TestSupport

/// The mount step on this machine's kernel, which has no NFS client (ENODEV) — or, elsewhere,
/// a proxy with no parent behind it: either way the mount cannot succeed. What must hold is
/// what the boot does about it. The real NFS mount is proven in the qemu suite (scripts/e2e-qemu).
@Suite(.serialized) struct MountSandboxTests {
    let scratch: TemporaryDirectory

    init() throws {
        scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
    }

    private func config(required: Bool) throws -> String {
        try scratch.write("boot-\(required).json", """
            {"version": 1, "heartbeat": {"enabled": false},
             "hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000}],
             "mounts": [{"type": "nfs4", "server": "127.0.0.200", "port": 2049, "export": "/data", "target": "\(scratch.path)/mnt/pv",
                         "options": "hard,timeo=50", "timeout_seconds": 2, "required": \(required)}]}
            """)
    }

    @Test func aRequiredMountThatCannotSucceedFailsTheBootWithWhatAndWhy() throws {
        let process = try Sandbox.start(.subreaper, ["--config", try config(required: true), "--", "/bin/true"],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": scratch.path])
        let result = process.wait(timeout: .seconds(30))
        #expect(result?.status == 70)
        let log = result?.stderr ?? ""
        #expect(log.contains("boot failed at step 7/10 mounts: mounts[0]: nfs4 127.0.0.200:/data on \(scratch.path)/mnt/pv failed after"), "\(log)")
        #expect(log.contains("options vers=4.2,addr=127.0.0.200,port=2049,proto=tcp,hard,timeo=50"), "\(log)")
        #expect(!log.contains("app: started"))
        // The target was created for the mount; nothing is left mounted on it.
        #expect(FileManager.default.fileExists(atPath: scratch.path + "/mnt/pv"))
    }

    @Test func anOptionalMountThatCannotSucceedIsLoggedAndTheAppRuns() throws {
        let process = try Sandbox.start(.subreaper, ["--config", try config(required: false), "--", "/bin/sh", "-c", "exit 7"],
                                        environment: ["ENCLAVE_INIT_VSOCK_DIR": scratch.path])
        let result = process.wait(timeout: .seconds(30))
        Sandbox.expectEnded(result, .subreaper, withCode: 7)
        let log = result?.stderr ?? ""
        #expect(log.contains("optional (\"required\": false), going on without it"), "\(log)")
        #expect(log.contains("mounts: 0 of 1 mounted"), "\(log)")
        #expect(log.contains("app: started"))
    }
}
