import BootConfig
import Foundation
import Testing
import TestSupport

/// Thousands of random mutations of the example image config: decoding must always end in a
/// config or a ConfigError with at least one message — never a crash or a hang.
@Suite struct FuzzTests {
    static let example: String = {
        let path = #filePath.replacingOccurrences(of: "Tests/BootConfigTests/FuzzTests.swift", with: "docs/examples/full-featured.json")
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }()

    @Test func mutatedConfigsNeverCrashTheDecoder() {
        #expect(!Self.example.isEmpty)
        let seed: UInt64 = 0x5EED_0001
        var mutator = ConfigMutator(seed: seed)
        var accepted = 0, rejected = 0
        for iteration in 0..<20_000 {
            let bytes = mutator.mutate(Self.example)
            do {
                _ = try BootConfigLoader.decode(bytes)
                accepted += 1
            } catch {
                rejected += 1
                if error.issues.isEmpty || error.issues.contains(where: { $0.message.isEmpty }) {
                    Issue.record("seed \(seed) iteration \(iteration): an error without a message")
                }
            }
        }
        // The mutations must exercise both outcomes, or the test proves little.
        #expect(accepted > 100, "only \(accepted) mutants were valid")
        #expect(rejected > 10_000)
    }
}
