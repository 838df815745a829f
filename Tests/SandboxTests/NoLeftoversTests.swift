import Foundation
import Testing
import TestSupport

/// scripts/no-leftovers, which scripts/test runs the whole suite under: it must fail a command
/// that leaves a process behind (however orphaned) or a mount, and pass one that leaves nothing.
@Suite struct NoLeftoversTests {
    static let script = #filePath.replacingOccurrences(of: "Tests/SandboxTests/NoLeftoversTests.swift", with: "scripts/no-leftovers")

    @Test func aProcessLeftBehindFailsTheRunAndIsKilled() throws {
        let marker = "enclave-init-no-leftovers-\(UInt32.random(in: 0...UInt32.max))"
        // A sleep orphaned twice over (a new session, its parent gone): still found, then killed.
        let result = try ProcessRunner.run("/usr/bin/python3", [Self.script, "/bin/sh", "-c",
                                                                 "setsid sh -c 'python3 -c \"import time; time.sleep(300)\" \(marker) < /dev/null > /dev/null 2>&1 &'; exit 0"])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stderr.contains("process still running: ") && result.stderr.contains(marker), "\(result.stderr)")
        let still = try ProcessRunner.run("/usr/bin/pgrep", ["-f", marker])
        #expect(still.status == 1, "left running after the check: \(still.stdout)")
    }

    @Test func aCommandThatLeavesNothingPassesWithItsOwnStatus() throws {
        let clean = try ProcessRunner.run("/usr/bin/python3", [Self.script, "/bin/sh", "-c", "sleep 0.2 & wait; exit 0"])
        #expect(clean.status == 0 && clean.stderr.contains("nothing left running, mounted or named"), "\(clean.output)")
        let failed = try ProcessRunner.run("/usr/bin/python3", [Self.script, "/bin/sh", "-c", "exit 3"])
        #expect(failed.status == 3, "\(failed.output)")
    }
}
