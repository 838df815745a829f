import Foundation
import Supervisor
import Testing

/// The exit-status mapping, against real processes' wait statuses.
@Suite struct TerminationStatusTests {
    /// Runs `sh -c SCRIPT` and decodes its raw wait status.
    private func status(of script: String) throws -> TerminationStatus? {
        var pid: pid_t = 0
        let words: [String] = ["/bin/sh", "-c", script]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The test runner may block or ignore signals; the child must get the defaults.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        guard posix_spawn(&pid, "/bin/sh", nil, &attributes, argv, environ) == 0 else { throw CocoaError(.executableLoad) }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        return TerminationStatus(waitStatus: raw)
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
