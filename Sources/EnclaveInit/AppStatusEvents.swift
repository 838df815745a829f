import Streams
import Supervisor

/// The supervisor's events as status-stream events (README: "Status events").
enum AppStatusEvents {
    static func event(for event: AppSupervisor.Event) -> StatusEvent {
        switch event {
        case .started(let pid):
            return StatusEvent("app_started", [("pid", .integer(Int64(pid)))])
        case .launchFailed(let error):
            return StatusEvent("boot_failed", [("step", .string(BootStep.app.rawValue)), ("error", .string("\(error)")),
                                               ("exit_code", .integer(Int64(error.exitCode)))])
        case .ready(let pid, let probe, let after):
            return StatusEvent("app_ready", [("pid", .integer(Int64(pid))), ("probe", .string(probe.description)),
                                             ("after_ms", .integer(milliseconds(after)))])
        case .notReady(let pid, let probe):
            return StatusEvent("app_not_ready", [("pid", .integer(Int64(pid))), ("probe", .string(probe.description)),
                                                 ("timeout_seconds", .integer(probe.timeout.components.seconds))])
        case .exited(let pid, let status, let restarting):
            var fields: [(key: String, value: EventValue)] = [("pid", .integer(Int64(pid)))]
            switch status {
            case .exited(let code): fields.append(("code", .integer(Int64(code))))
            case .signaled(let signal): fields += [("signal", .integer(Int64(signal))), ("signal_name", .string(SignalName.of(signal)))]
            }
            fields += [("exit_code", .integer(Int64(status.exitCode))), ("restarting", .bool(restarting))]
            return StatusEvent("app_exited", fields)
        case .restarting(let restart, let limit, let delay):
            return StatusEvent("restarting", [("restart", .integer(Int64(restart))), ("limit", .integer(Int64(limit))),
                                              ("delay_ms", .integer(milliseconds(delay)))])
        case .shutdownRequested(let signal):
            return StatusEvent("stopping", [("signal", .string(signal))])
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
