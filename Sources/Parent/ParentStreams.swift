import Addressing
import BootConfig
import ConsoleLog
import Glibc
import Logging
import NIOConcurrencyHelpers
import Relay
import Streams
import Processes

/// The parent end of `logs` and `status`: log records are printed to stdout, one line each,
/// prefixed with their stream; status events are logged and the last one is kept (and written
/// to --status-file). `exitCode` is the enclave's result once it has said so.
final class ParentStreams: StreamSink {
    private let logger: Logger
    private let statusFile: String?
    private struct State {
        var lastStatus: String?
        /// From `shutdown`, or from a final `app_exited` whose connection then ended.
        var exitCode: Int32?
        var finalAppExit: Int32?
        /// The logs connection closed after the enclave said `shutdown`: every record is in.
        var logsEnded = false
        /// Status connections open now, and since when none is (nil: one is, or none ever was).
        var statusOpen = 0
        var statusClosedAt: ContinuousClock.Instant?
    }
    private let state = NIOLockedValueBox(State())
    private let hasLogs: Bool

    init(config: BootConfiguration, statusFile: String?, logger: Logger) {
        self.logger = logger
        self.statusFile = statusFile
        hasLogs = config.logs != nil
    }

    /// The receiving end of one stream, handing what arrives to this sink.
    func receiver(_ kind: StreamKind, listen: ListenAddress, emulation: VsockEmulation?) -> StreamReceiver {
        StreamReceiver(kind: kind, listen: listen, emulation: emulation, sink: self, logger: logger)
    }

    /// The enclave's exit code, once it is known and its log records are all in.
    var enclaveResult: Int32? {
        state.withLockedValue { state in
            guard let code = state.exitCode, state.logsEnded || !hasLogs else { return nil }
            return code
        }
    }

    /// How long the enclave's status stream has been closed without it saying how it ended:
    /// nil while a connection is open, before the first one, or once an exit code is known.
    /// An enclave that panicked, was terminated from elsewhere or lost power says nothing;
    /// a live one reconnects within its backoff (2 s at most).
    var silentFor: Duration? {
        state.withLockedValue { state in
            guard state.statusOpen == 0, state.exitCode == nil, let since = state.statusClosedAt else { return nil }
            return ContinuousClock.now - since
        }
    }

    /// The code alone, as soon as it is known (to stop waiting for the logs after a while).
    var announcedExitCode: Int32? { state.withLockedValue { $0.exitCode } }
    var lastStatus: String? { state.withLockedValue { $0.lastStatus } }

    func received(_ record: ReceivedRecord) {
        switch record.kind {
        case .logs:
            let source = record.string("stream") ?? "?"
            let prefix = source.padding(toLength: 6) + "| "
            Console.write(prefix + (record.string("line") ?? "") + "\n", to: STDOUT_FILENO)
        case .status:
            logger.notice("enclave status: \(record.raw)")
            let event = record.statusEvent
            state.withLockedValue { state in
                state.lastStatus = record.raw
                switch event {
                case .shutdown(let exitCode, _)?:
                    state.exitCode = exitCode
                case .appExited(_, _, let exitCode, restarting: false)?:
                    state.finalAppExit = exitCode
                case nil where record.string("event") == StatusEvent.Name.shutdown.rawValue:
                    // A shutdown whose fields cannot be read still ends the enclave.
                    state.exitCode = InitExitCode.bootStepFailed
                default:
                    break
                }
            }
            if let statusFile { Self.write(record.raw + "\n", atomicallyTo: statusFile, logger: logger) }
        }
    }

    func connected(kind: StreamKind, boot: String) {
        guard kind == .status else { return }
        state.withLockedValue { state in
            state.statusOpen += 1
            state.statusClosedAt = nil
        }
    }

    func disconnected(kind: StreamKind, boot: String?) {
        state.withLockedValue { state in
            switch kind {
            case .logs: if state.exitCode != nil { state.logsEnded = true }
            case .status:
                if boot != nil {
                    state.statusOpen = max(0, state.statusOpen - 1)
                    if state.statusOpen == 0 { state.statusClosedAt = ContinuousClock.now }
                }
                // The enclave went away after its app's final exit without saying `shutdown`.
                if state.exitCode == nil, let code = state.finalAppExit { state.exitCode = code }
            }
        }
    }

    private static func write(_ text: String, atomicallyTo path: String, logger: Logger) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            logger.warning("--status-file \(path): cannot write \(temporary): \(String(cString: strerror(errno)))")
            return
        }
        Console.write(text, to: fd)
        close(fd)
        if rename(temporary, path) != 0 {
            logger.warning("--status-file \(path): cannot rename \(temporary) to it: \(String(cString: strerror(errno)))")
        }
    }
}

extension String {
    fileprivate func padding(toLength length: Int) -> String {
        count >= length ? self : self + String(repeating: " ", count: length - count)
    }
}
