import Foundation
import Testing
import TestSupport

/// As PID 1 of a nested PID namespace (what `docker run` makes) enclave-init is a container's
/// init: it mounts only the pseudo filesystems that are missing, never a tmpfs over the
/// image's /tmp or /run, says so, and exits with the app's status (the exit codes and signals
/// of SupervisorSandboxTests check that in both modes).
@Suite(.serialized) struct ContainerInitTests {
    @Test func theImagesTmpStaysVisibleAndOnlyPseudoFilesystemsAreMounted() throws {
        let marker = "/tmp/enclave-init-image-file-\(UInt64.random(in: 0...UInt64.max))"
        try "the image's".write(toFile: marker, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: marker) }
        let scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
        let config = try scratch.write("boot.json", #"{"version": 1}"#)
        let out = scratch.path + "/seen"
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", "cat \(marker) > \(out)"])
        let result = enclave.wait(timeout: .seconds(30))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        #expect((try? String(contentsOfFile: out, encoding: .utf8)) == "the image's", "a tmpfs hid the image's /tmp")
        let log = result?.stderr ?? ""
        #expect(log.contains("pid-1: a container's init (PID 1 of a nested PID namespace): exits with the app's status"), "\(log)")
        let mounted = log.split(separator: "\n").first { $0.contains("pid-1: mounted") }.map(String.init) ?? ""
        #expect(!mounted.contains("/tmp") && !mounted.contains("/run"), "\(mounted)")
        #expect(!log.contains("heartbeat"), "a container's init sent a heartbeat:\n\(log)")
    }
}

/// `docker run` without `--cap-add NET_ADMIN`: lo is up with 127.0.0.1 and ::1 already (the
/// engine did that), and the process has no CAP_NET_ADMIN. A boot JSON that adds no alias
/// must boot there: the network step asks the kernel for nothing that is already so. One that
/// does add an alias says which capability it lacks. (Found with podman: scripts/e2e-container.)
@Suite(.serialized) struct ContainerWithoutNetAdminTests {
    /// lo up as an engine leaves it, then enclave-init exec'd without CAP_NET_ADMIN.
    static let prelude = "ip link set lo up; set -- /usr/bin/setpriv --bounding-set=-net_admin \"$@\""

    @Test func aBootJSONWithoutAliasesBootsWithoutNetAdmin() throws {
        let scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
        let config = try scratch.write("boot.json", #"{"version": 1}"#)
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", "echo app ran"], prelude: Self.prelude)
        let result = enclave.wait(timeout: .seconds(30))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        let log = result?.stderr ?? ""
        #expect(log.contains("app ran"), "\(log)")
        #expect(log.contains("step 5/10 network: lo up"), "\(log)")
    }

    @Test func anAliasWithoutNetAdminNamesTheCapability() throws {
        let scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
        let config = try scratch.write("boot.json", #"""
            {"version": 1, "hosts": [{"names": ["db.internal"], "address": "127.0.0.9", "port": 5432, "vsock_port": 8100}]}
            """#)
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/true"], prelude: Self.prelude)
        let result = enclave.wait(timeout: .seconds(30))
        let log = result?.stderr ?? ""
        #expect(result?.status == 70, "\(log)")
        #expect(log.contains("adding 127.0.0.9/32 to lo: Operation not permitted"), "\(log)")
        #expect(log.contains("CAP_NET_ADMIN"), "no hint at the capability:\n\(log)")
    }
}
