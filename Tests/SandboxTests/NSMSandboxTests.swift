import Foundation
import Testing
import TestSupport

/// The attestation endpoint and the entropy step without a real NSM (this machine has none;
/// the qemu suite is where a device answers): the boot goes on, and the app hears why.
@Suite(.serialized) struct NSMSandboxTests {
    let scratch: TemporaryDirectory

    init() throws {
        scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
    }

    private func run(device: String) throws -> (log: String, answer: String) {
        let out = scratch.path + "/answer-\(UInt32.random(in: 0...UInt32.max))"
        let config = try scratch.write("boot.json", #"{"version": 1, "attestation": {"port": 7777}}"#)
        let app = "curl -s -m 10 -X POST -d '{\"nonce\": \"AAEC\"}' -w ' %{http_code}' http://127.0.0.1:7777/v1/attestation > \(out)"
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", app],
                                        environment: ["ENCLAVE_INIT_NSM_DEVICE": device])
        let result = enclave.wait(timeout: .seconds(30))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        return (result?.stderr ?? "", (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    @Test func withoutADeviceTheEndpointAnswers503AndTheBootGoesOn() throws {
        let (log, answer) = try run(device: "/nonexistent/nsm")
        #expect(answer == "no NSM device at /nonexistent/nsm\n 503", "\(answer)\n\(log)")
        #expect(log.contains("attestation http://127.0.0.1:7777/v1/attestation"), "\(log)")
        #expect(!log.contains("entropy: credited"))
    }

    @Test func aPathThatIsNotAnNSMIsNamedAsSuch() throws {
        let (log, answer) = try run(device: "/dev/null")
        #expect(answer == "/dev/null is not an NSM device (its ioctl answered: Inappropriate ioctl for device)\n 503", "\(answer)\n\(log)")
        // The entropy step tried, warned and went on.
        #expect(log.contains("entropy: /dev/null is not an NSM device"), "\(log)")
        #expect(log.contains("the kernel's own entropy only"), "\(log)")
    }
}
