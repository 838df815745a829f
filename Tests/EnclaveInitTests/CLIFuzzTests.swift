import Foundation
import Testing
import TestSupport

/// Random mutations of the example config through the real binary: every run ends with exit 0,
/// or 78 and a message — never a crash, a signal or a hang.
@Suite struct CLIFuzzTests {
    @Test func mutatedConfigsExitWith0Or78() throws {
        let examplePath = #filePath.replacingOccurrences(of: "Tests/EnclaveInitTests/CLIFuzzTests.swift", with: "rootfs/etc/enclave-init/boot.json")
        let example = try String(contentsOfFile: examplePath, encoding: .utf8)
        let directory = try TemporaryDirectory()
        let seed: UInt64 = 0xC11_F022
        var mutator = ConfigMutator(seed: seed)
        var statuses: [Int32: Int] = [:]
        for iteration in 0..<1_000 {
            let path = try directory.write("boot.json", bytes: mutator.mutate(example))
            let result = try ProcessRunner.enclaveInit(["check", "--config", path])
            statuses[result.status, default: 0] += 1
            if result.status == 78 {
                if !result.stderr.contains("error") { Issue.record("seed \(seed) iteration \(iteration): 78 without messages") }
            } else if result.status != 0 {
                Issue.record("seed \(seed) iteration \(iteration): exit \(result.status)\n\(result.output)")
                try? FileManager.default.copyItem(atPath: path, toPath: "/tmp/enclave-init-fuzz-failure-\(iteration).json")
            }
        }
        #expect(statuses[0, default: 0] > 0 && statuses[78, default: 0] > 500, "\(statuses)")
    }
}
