import Foundation
import Processes
import Supervisor
import Testing
import TestSupport

/// The exit-status mapping, against real processes' wait statuses.
@Suite struct TerminationStatusTests {
    /// Runs `sh -c SCRIPT` (with default signal dispositions) and decodes its raw wait status.
    private func status(of script: String) throws -> TerminationStatus? {
        let process = try SpawnedProcess("/bin/sh", ["-c", script])
        _ = process.wait(timeout: .seconds(10))
        return process.rawWaitStatus.flatMap(TerminationStatus.init(waitStatus:))
    }

    @Test(arguments: [("exit 0", TerminationStatus.exited(0), Int32(0)), ("exit 3", .exited(3), 3), ("exit 255", .exited(255), 255),
                      ("kill -TERM $$", .signaled(15), 143), ("kill -KILL $$", .signaled(9), 137), ("kill -SEGV $$", .signaled(11), 139)])
    func mapsWaitStatusesToExitCodes(_ script: String, _ expected: TerminationStatus, _ code: Int32) throws {
        let status = try status(of: script)
        #expect(status == expected)
        #expect(status?.exitCode == code)
    }

    @Test func describesSignalsByName() {
        #expect(TerminationStatus.signaled(15).description == "killed by signal 15 (SIGTERM)")
        #expect(TerminationStatus.exited(2).description == "exited with status 2")
    }
}
