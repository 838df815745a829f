import CSupport
import Glibc

/// What PID 1 does instead of exiting: exiting PID 1 panics the kernel, so sync and power off.
public enum PowerOff {
    /// Never returns. If the kernel refuses (no CAP_SYS_BOOT), exit with `code` as a last resort.
    public static func now(exitCode code: Int32) -> Never {
        // The last lines ("powering off exit_code=…") reach the console first.
        _ = ei_console_flush(2000)
        _ = ei_power_off()
        exit(code)
    }
}
