import Foundation
import Testing
import TestSupport

/// Random mutations of the example config through the real binary: every run ends with exit 0,
/// or 78 and a message — never a crash, a signal or a hang.
@Suite struct CLIFuzzTests {
    @Test func mutatedConfigsExitWith0Or78() throws {
        let examplePath = #filePath.replacingOccurrences(of: "Tests/EnclaveInitTests/CLIFuzzTests.swift", with: "docs/examples/full-featured.json")
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
                if let problem = Self.problem(withErrorReport: result.stderr, path: path) {
                    Issue.record("seed \(seed) iteration \(iteration): \(problem)\n\(result.stderr)")
                }
            } else if result.status != 0 {
                Issue.record("seed \(seed) iteration \(iteration): exit \(result.status)\n\(result.output)")
                try? FileManager.default.copyItem(atPath: path, toPath: "/tmp/enclave-init-fuzz-failure-\(iteration).json")
            }
        }
        #expect(statuses[0, default: 0] > 0 && statuses[78, default: 0] > 500, "\(statuses)")
    }

    /// What is wrong with `check`'s report of an invalid config, if anything: it must open with
    /// "<path>: N error(s)" and then list exactly N issues, each a JSON path (with its line and
    /// column where the text has one) and a message, optionally followed by a hint line.
    static func problem(withErrorReport stderr: String, path: String) -> String? {
        let lines = stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
        guard let first = lines.first, first.hasPrefix(path + ": ") else { return "the report does not start with the config's path" }
        let count = first.dropFirst(path.count + 2)
        guard let number = Int(count.split(separator: " ").first ?? ""), number > 0,
              count == (number == 1 ? "1 error" : "\(number) errors") else { return "no error count in \"\(first)\"" }
        let issues = lines.dropFirst().filter { !$0.hasPrefix("    hint: ") }
        guard issues.count == number else { return "\(number) errors announced, \(issues.count) listed" }
        for issue in issues {
            guard issue.hasPrefix("  "), !issue.hasPrefix("   "), let colon = issue.range(of: ": ") else { return "not an issue line: \"\(issue)\"" }
            let place = issue[issue.index(issue.startIndex, offsetBy: 2)..<colon.lowerBound]
            guard !place.isEmpty, !issue[colon.upperBound...].isEmpty else { return "an issue without a path or a message: \"\(issue)\"" }
        }
        return nil
    }
}
