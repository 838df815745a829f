@testable import EnclaveInit
import Foundation
import Testing
import TestSupport

/// One numbering of the boot's steps: the list in the code (BootStep), what `plan` prints, the
/// console's step lines and the README's numbers all agree.
@Suite struct BootStepsTests {
    static let readmePath = #filePath.replacingOccurrences(of: "Tests/EnclaveInitTests/BootStepsTests.swift", with: "README.md")
    static let fullExample = #filePath.replacingOccurrences(of: "Tests/EnclaveInitTests/BootStepsTests.swift", with: "docs/examples/full-featured.json")
    static let expected = BootStep.allCases.map { ($0.number, $0.rawValue) }

    @Test func theStepsAreNumberedInBootOrder() {
        #expect(BootStep.allCases.map(\.rawValue) == ["early", "config", "pid-1", "streams", "network", "proxies", "mounts", "secrets", "app", "supervise"])
        #expect(BootStep.network.label == "step 5/10 network")
    }

    /// The README's "The boot, step by step" list is the code's list, in order.
    @Test func theReadmesListIsTheCodesList() throws {
        let readme = try String(contentsOfFile: Self.readmePath, encoding: .utf8)
        let section = try #require(readme.range(of: "### The boot, step by step"))
        let listed = readme[section.upperBound...].split(separator: "\n").compactMap { line -> (Int, String)? in
            guard let match = line.firstMatch(of: #/^(\d+)\. \*\*([a-z0-9-]+)\*\*/#) else { return nil }
            return (Int(match.1)!, String(match.2))
        }
        let items = Array(listed.prefix(BootStep.allCases.count + 1))
        #expect(items.map(\.0) == Self.expected.map(\.0) && items.map(\.1) == Self.expected.map(\.1), "\(items)")
    }

    /// Every "step N (name)" or "step N, name" elsewhere in the README names the step N is.
    @Test func everyStepTheReadmeNamesHasItsNumber() throws {
        let readme = try String(contentsOfFile: Self.readmePath, encoding: .utf8)
        let numbers = Dictionary(uniqueKeysWithValues: BootStep.allCases.map { ($0.rawValue, $0.number) })
        var seen = 0
        for match in readme.matches(of: #/step (\d+)(?: \(|, )([a-z0-9-]+)/#) {
            seen += 1
            #expect(numbers[String(match.2)] == Int(match.1), "README: \(match.0)")
        }
        #expect(seen >= 5, "the README names its steps with their numbers")
        // And no bare "step N" without its name, which could drift unnoticed.
        for match in readme.matches(of: #/[Ss]teps? (\d+)(?![\d\/])(?! \(|, )/#) {
            Issue.record("README: a step number without its name: \(match.0)")
        }
    }

    /// `plan` prints the steps with the same numbers (those with nothing to do left out).
    @Test func planPrintsTheSameNumbers() throws {
        let plan = try ProcessRunner.enclaveInit(["plan", "--config", Self.fullExample])
        #expect(plan.status == 0, "\(plan.output)")
        let printed = plan.stdout.split(separator: "\n").compactMap { line -> (Int, String)? in
            guard let match = line.firstMatch(of: #/^(\d+)\. ([a-z0-9-]+) /#) else { return nil }
            return (Int(match.1)!, String(match.2))
        }
        #expect(printed.map(\.0) == Self.expected.map(\.0) && printed.map(\.1) == Self.expected.map(\.1), "\(plan.stdout)")
        // The shutdown as it happens: the mounts go before the proxies that carry them.
        let shutdown = try #require(plan.stdout.split(separator: "\n").first { $0.contains("shutdown: SIGTERM") })
        let unmount = try #require(shutdown.range(of: "unmount")), proxies = try #require(shutdown.range(of: "stop the proxies"))
        #expect(unmount.lowerBound < proxies.lowerBound, "\(shutdown)")
    }
}
