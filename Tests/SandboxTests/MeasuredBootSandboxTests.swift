import Foundation
import Testing
import TestSupport

/// The boot JSON measured into a PCR before anything runs, with the NSM stand-in over
/// ENCLAVE_INIT_NSM_SOCKET (it keeps PCRs 16-31 as the NSM does): the value `plan` printed is
/// the one the app's document carries; a PCR extended before enclave-init stops the boot. QEMU's
/// own NSM does the same in the nitro tier.
@Suite(.serialized) struct MeasuredBootSandboxTests {
    let scratch: TemporaryDirectory

    init() throws {
        scratch = try TemporaryDirectory(base: Sandbox.scratchBase)
    }

    private func planValue(_ config: String, pcr: Int) throws -> String {
        let plan = try ProcessRunner.enclaveInit(["plan", "--config", config, "--", "/bin/true"])
        let line = try #require(plan.stdout.split(separator: "\n").first { $0.contains("PCR\(pcr) will read ") }, "\(plan.output)")
        return String(line.split(separator: " ").last ?? "")
    }

    private func boot(_ json: String, standin: [String: String] = [:]) throws -> (result: ProcessResult?, document: String) {
        let config = try scratch.write("boot-\(UInt32.random(in: 0...UInt32.max)).json", json)
        let socket = scratch.path + "/nsm-\(UInt32.random(in: 0...UInt32.max)).sock"
        var environment = ["PATH": "/usr/bin:/bin"]
        environment.merge(standin) { $1 }
        let nsm = try SpawnedProcess(KMSSandboxTests.python, [AttestedIngressSandboxTests.nsmStandin, "nsm", socket], environment: environment)
        defer { kill(nsm.pid, SIGKILL) }
        #expect(eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: socket) })
        let out = scratch.path + "/document-\(UInt32.random(in: 0...UInt32.max))"
        let app = "curl -s -m 10 -X POST -d '{}' http://127.0.0.1:7777/v1/attestation -o \(out)"
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", app], environment: ["ENCLAVE_INIT_NSM_SOCKET": socket])
        let result = enclave.wait(timeout: .seconds(30))
        let pcrs = try ProcessRunner.run(KMSSandboxTests.python, ["-c", """
            import cbor2, sys
            outer = cbor2.loads(open(sys.argv[1], "rb").read())
            payload = cbor2.loads((outer.value if isinstance(outer, cbor2.CBORTag) else outer)[2])
            print(" ".join("%d=%s" % (i, v.hex()) for i, v in sorted(payload["pcrs"].items()) if i >= 16 and any(v)))
            """, out])
        return (result, pcrs.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test func theDocumentCarriesThePCRValuePlanPrinted() throws {
        let json = #"{"version": 1, "attestation": {"port": 7777}}"#
        let value = try planValue(try scratch.write("plan.json", json), pcr: 16)
        #expect(value.count == 96)
        let (result, document) = try boot(json)
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        #expect(result?.stderr.contains("pid-1: boot JSON measured into PCR16 and locked: \(value)") == true, "\(result?.stderr ?? "")")
        #expect(document == "16=\(value)", "the document names the config, and nothing else was extended")
        // Another PCR, another config, another value.
        let other = #"{"version": 1, "attestation": {"port": 7777}, "measure": {"pcr": 23}}"#
        let otherValue = try planValue(try scratch.write("plan23.json", other), pcr: 23)
        #expect(otherValue != value)
        let (otherResult, otherDocument) = try boot(other)
        Sandbox.expectEnded(otherResult, .pid1, withCode: 0)
        #expect(otherDocument == "23=\(otherValue)")
    }

    @Test func aPCRExtendedBeforeEnclaveInitStopsTheBoot() throws {
        let (result, _) = try boot(#"{"version": 1, "attestation": {"port": 7777}}"#, standin: ["STANDIN_PREEXTEND_PCR": "16"])
        Sandbox.expectEnded(result, .pid1, withCode: 70)
        #expect(result?.stderr.contains("the boot JSON cannot be measured: PCR16 is") == true && result?.stderr.contains("not fresh: something extended it before enclave-init") == true,
                "\(result?.stderr ?? "")")
        #expect(result?.stderr.contains("app: started") == false, "nothing ran")
    }
}
