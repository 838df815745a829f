import DocumentReading
import Glibc

/// What the enclave checks about itself at boot (step 3, as the enclave's own init): the facts
/// an auditor asks an enclave to prove, read from the kernel. Each is a finding (what was
/// found, what a Nitro enclave has); `hardening` decides which stop the boot.
public enum SelfChecks {
    public struct Finding: Sendable, Equatable {
        /// The `hardening` key: rng_source, clock_source, cmdline, debug_mode.
        public var check: String
        public var ok: Bool
        public var found: String
        public var expected: String
    }

    static let rngPath = "/sys/class/misc/hw_random/rng_current"
    static let clockPath = "/sys/devices/system/clocksource/clocksource0/current_clocksource"
    /// The command line the image was built with, in ramdisk 0 beside /init (`build` writes it).
    public static let measuredCmdlinePath = "/cmdline"

    public static func rngSource(root: String = "") -> Finding {
        let found = firstLine(root + rngPath) ?? "unreadable (\(rngPath))"
        return Finding(check: "rng_source", ok: found == "nsm-hwrng", found: found, expected: "nsm-hwrng")
    }

    public static func clockSource(root: String = "") -> Finding {
        let found = firstLine(root + clockPath) ?? "unreadable (\(clockPath))"
        return Finding(check: "clock_source", ok: found == "kvm-clock", found: found, expected: "kvm-clock")
    }

    /// /proc/cmdline against the image's /cmdline; words appended after the measured ones (a
    /// bootloader's, QEMU's -append) make it differ, as they should.
    public static func cmdline(root: String = "") -> Finding {
        guard let measured = firstLine(root + measuredCmdlinePath) else {
            return Finding(check: "cmdline", ok: false, found: "no \(measuredCmdlinePath) in the image (built without enclave-init build --kernel?)",
                           expected: "the command line the image measured")
        }
        let running = firstLine(root + "/proc/cmdline") ?? "unreadable"
        return Finding(check: "cmdline", ok: running == measured, found: running, expected: measured)
    }

    /// Debug mode: the NSM's PCR0 reads all zero (`pcr0`: DescribePCR(0)'s data; nil: no NSM).
    public static func debugMode(pcr0: [UInt8]?) -> Finding {
        guard let pcr0 else { return Finding(check: "debug_mode", ok: false, found: "unknown (no NSM to ask)", expected: "PCR0 not all zero") }
        let debug = !pcr0.isEmpty && pcr0.allSatisfy { $0 == 0 }
        return Finding(check: "debug_mode", ok: !debug, found: debug ? "debug mode (PCR0 is all zero: the parent can read the enclave's memory)" : "not debug mode",
                       expected: "not debug mode")
    }

    static func firstLine(_ path: String) -> String? {
        guard let text = try? FileContents.text(path, limit: 1 << 16) else { return nil }
        return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "").trimmingSpaces()
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
