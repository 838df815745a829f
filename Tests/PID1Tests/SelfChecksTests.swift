import Foundation
@testable import PID1
import Testing
import TestSupport

/// The self-checks on a made-up /sys and /proc (a root of the test's own): what each reads, and
/// what it says when the file is not there. In QEMU's machine they read the real ones.
@Suite struct SelfChecksTests {
    let root: TemporaryDirectory

    init() throws {
        root = try TemporaryDirectory()
    }

    private func write(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: root.path + (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: root.path + path, atomically: false, encoding: .utf8)
    }

    @Test func aNitroEnclavesFactsPass() throws {
        try write("/sys/class/misc/hw_random/rng_current", "nsm-hwrng\n")
        try write("/sys/devices/system/clocksource/clocksource0/current_clocksource", "kvm-clock\n")
        try write("/cmdline", "reboot=k panic=30 console=ttyS0\n")
        try write("/proc/cmdline", "reboot=k panic=30 console=ttyS0\n")
        #expect(SelfChecks.rngSource(root: root.path).ok && SelfChecks.clockSource(root: root.path).ok && SelfChecks.cmdline(root: root.path).ok)
        #expect(SelfChecks.debugMode(pcr0: [UInt8](repeating: 1, count: 48)).ok)
    }

    @Test func eachFailureSaysWhatWasFound() throws {
        try write("/sys/class/misc/hw_random/rng_current", "virtio_rng.0\n")
        try write("/cmdline", "reboot=k panic=30 console=ttyS0\n")
        try write("/proc/cmdline", "reboot=k panic=30 console=ttyS0 init=/bin/sh\n")
        #expect(SelfChecks.rngSource(root: root.path) == .init(check: "rng_source", ok: false, found: "virtio_rng.0", expected: "nsm-hwrng"))
        #expect(SelfChecks.clockSource(root: root.path).found.hasPrefix("unreadable"))
        let cmdline = SelfChecks.cmdline(root: root.path)
        #expect(!cmdline.ok && cmdline.found.hasSuffix("init=/bin/sh") && cmdline.expected == "reboot=k panic=30 console=ttyS0")
        let debug = SelfChecks.debugMode(pcr0: [UInt8](repeating: 0, count: 48))
        #expect(!debug.ok && debug.found.hasPrefix("debug mode (PCR0 is all zero"))
        #expect(!SelfChecks.debugMode(pcr0: nil).ok)
        try FileManager.default.removeItem(atPath: root.path + "/cmdline")
        #expect(SelfChecks.cmdline(root: root.path).found.hasPrefix("no /cmdline in the image"))
    }
}
