import Streams
import Processes
import Supervisor

/// The supervisor's events as status-stream events (README: "Status events").
enum AppStatusEvents {
    static func event(for event: AppSupervisor.Event) -> StatusEvent {
        switch event {
        case .started(let pid):
            return .appStarted(pid: pid)
        case .launchFailed(let error):
            return .bootFailed(step: BootStep.app.rawValue, error: "\(error)", exitCode: error.exitCode)
        case .ready(let pid, let probe, let after):
            return .appReady(pid: pid, probe: probe.description, afterMilliseconds: milliseconds(after))
        case .notReady(let pid, let probe):
            return .appNotReady(pid: pid, probe: probe.description, timeoutSeconds: probe.timeout.components.seconds)
        case .exited(let pid, let status, let restarting):
            let ending: StatusEvent.AppEnding
            switch status {
            case .exited(let code): ending = .code(code)
            case .signaled(let signal): ending = .signal(signal, name: SignalName.of(signal))
            }
            return .appExited(pid: pid, ending: ending, exitCode: status.exitCode, restarting: restarting)
        case .restarting(let restart, let limit, let delay):
            return .restarting(restart: restart, limit: limit, delayMilliseconds: milliseconds(delay))
        case .shutdownRequested(.signal(let name)):
            return .stopping(by: .signal(name))
        case .shutdownRequested(.parent):
            return .stopping(by: .parent)
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
