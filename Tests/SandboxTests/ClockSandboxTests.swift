import Foundation
import Testing
import TestSupport

/// `clock` with both halves over the vsock emulation, enclave-init as an ordinary child (as under
/// AWS's init; a container's init leaves the clock alone). This machine's clock must never change
/// (a namespace does not isolate CLOCK_REALTIME), so enclave-init runs here WITHOUT
/// CAP_SYS_TIME (dropped from its bounding and inheritable sets before exec), and both halves
/// share one clock: the offset measured is a few microseconds. Stepping an hour is shown in the
/// qemu guest (scripts/e2e-qemu clock).
@Suite(.serialized) struct ClockSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String
    /// Runs the rest of the sandbox's command without CAP_SYS_TIME.
    static let withoutSysTime = #"exec setpriv --bounding-set -sys_time --inh-caps -sys_time -- "$@""#

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    /// Refuses to go on unless setpriv really removes CAP_SYS_TIME (bit 25) here.
    private func requireNoSysTime() throws {
        let probe = try ProcessRunner.run("/usr/bin/setpriv", ["--bounding-set", "-sys_time", "--inh-caps", "-sys_time", "--",
                                                               "/bin/grep", "CapEff", "/proc/self/status"])
        let hex = try #require(probe.stdout.split(separator: "\t").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        let effective = try #require(UInt64(hex, radix: 16), "\(probe.stdout)")
        try #require(effective & (1 << 25) == 0, "setpriv left CAP_SYS_TIME: not running a clock test on this machine")
    }

    private func config(_ name: String) throws -> String {
        try scratch.write(name, """
            {"version": 1, "heartbeat": {"enabled": false}, "clock": {"vsock_port": 9103, "interval_seconds": 10},
             "app": {"command": ["/bin/sh", "-c", "grep CapEff /proc/self/status > \(scratch.path)/app-caps; echo ran"]}}
            """)
    }

    @Test func theEnclaveMeasuresTheParentsClockBeforeTheApp() throws {
        try requireNoSysTime()
        let config = try config("boot-clock.json")
        try? FileManager.default.removeItem(atPath: vsock + "/3-9103")
        let parent = try Sandbox.startParent(["--config", config], hostsFile: try scratch.write("parent-hosts", "127.0.0.1 localhost\n"),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        defer { kill(parent.pid, SIGTERM); _ = parent.wait(timeout: .seconds(10)) }
        #expect(eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: vsock + "/3-9103") }, "\(parent.stderrSoFar)")

        let enclave = try Sandbox.start(.subreaper, ["--config", config], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock],
                                        prelude: Self.withoutSysTime)
        let result = enclave.wait(timeout: .seconds(30))
        Sandbox.expectEnded(result, .subreaper, withCode: 0)
        let log = result?.stderr ?? ""
        let line = try #require(log.split(separator: "\n").first { $0.contains("clock: ") && $0.contains("offset ") }, "\(log)")
        // Left alone (within 1 ms), or, should scheduling make it look larger, refused for want
        // of CAP_SYS_TIME: either way measured, and small.
        #expect(line.contains("left alone") || line.contains("Operation not permitted"), "\(line)")
        let offset = try #require(line.range(of: "offset ").map { line[$0.upperBound...].split(separator: " ").prefix(2).joined(separator: " ") })
        #expect(offset.hasSuffix(" us") || (offset.hasSuffix(" ms") && (Double(offset.dropLast(3)) ?? 99).magnitude < 50), "\(offset)")
        #expect(parent.stderrSoFar.contains("listening: clock vsock:any:9103"), "\(parent.stderrSoFar)")
        #expect(!scratch.text("app-caps").isEmpty, "the app did not run")
    }

    /// As a container's init (`docker run`) it does not even try: the clock is the host's.
    @Test func aContainersInitLeavesTheClockAlone() throws {
        try requireNoSysTime()
        let config = try config("boot-clock-container.json")
        let enclave = try Sandbox.start(.pid1, ["--config", config], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock],
                                        prelude: Self.withoutSysTime)
        let result = enclave.wait(timeout: .seconds(30))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        #expect(result?.stderr.contains("clock: left alone: a container shares its host's clock") == true, "\(result?.stderr ?? "")")
        #expect(result?.stderr.contains("offset") == false)
    }

    @Test func aParentThatIsAwayCostsAWarningNotTheBoot() throws {
        try requireNoSysTime()
        let config = try config("boot-clock-away.json")
        let away = scratch.path + "/empty-vsock"
        try FileManager.default.createDirectory(atPath: away, withIntermediateDirectories: true)
        let start = ContinuousClock.now
        let enclave = try Sandbox.start(.subreaper, ["--config", config], environment: ["ENCLAVE_INIT_VSOCK_DIR": away],
                                        prelude: Self.withoutSysTime)
        let result = enclave.wait(timeout: .seconds(30))
        Sandbox.expectEnded(result, .subreaper, withCode: 0)
        #expect(result?.stdout.contains("ran") == true)
        #expect(result?.stderr.contains("clock: not synced: the parent's clock at unix:") == true, "\(result?.stderr ?? "")")
        #expect(result?.stderr.contains("is unreachable") == true)
        #expect(ContinuousClock.now - start < .seconds(15))
    }
}
