import Foundation
import Testing
import TestSupport

/// Runs the static binary in fresh Linux namespaces. Needs root and the static build: run
/// these through scripts/test, which provides both (ENCLAVE_INIT_BINARY=dist/enclave-init).
enum Sandbox {
    /// The static binary, after checking that this process can run sandboxes at all.
    static func staticBinary() throws -> String {
        try #require(getuid() == 0, "sandbox tests need root (Linux namespaces); run scripts/test")
        let binary = ProcessRunner.binary
        let ldd = try ProcessRunner.run("/usr/bin/ldd", [binary])
        try #require(ldd.status != 0, "\(binary) is dynamically linked; set ENCLAVE_INIT_BINARY to dist/enclave-init (scripts/build-static)")
        return binary
    }

    /// An empty root directory holding only the binary (as /enclave-init) and the given files.
    static func emptyRoot(files: [String: String]) throws -> TemporaryDirectory {
        let root = try TemporaryDirectory()
        try FileManager.default.copyItem(atPath: try staticBinary(), toPath: root.path + "/enclave-init")
        for (name, contents) in files { try root.write(name, contents) }
        return root
    }

    /// `unshare --pid --mount --fork chroot ROOT /enclave-init ARGS`: the binary is PID 1 of a new
    /// PID namespace, in a mount namespace of its own, with nothing mounted.
    static func runAsPID1(in root: TemporaryDirectory, _ arguments: [String]) throws -> ProcessResult {
        try ProcessRunner.run("/usr/bin/unshare", ["--pid", "--mount", "--fork", "chroot", root.path, "/enclave-init"] + arguments,
                              environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
    }
}
