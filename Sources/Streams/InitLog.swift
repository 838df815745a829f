import NIOConcurrencyHelpers
import NIOCore

/// enclave-init's own log lines on their way to the log stream. Lines logged before the stream
/// exists (the config step, PID-1 duties) are held, up to `earlyLimit`, and go first.
public enum InitLog {
    static let earlyLimit = 256

    private struct State {
        var recording = false
        var early: [(time: Int64, line: String)] = []
        var buffer: RecordBuffer?
    }

    private static let state = NIOLockedValueBox(State())

    /// Only `run` streams its lines; other commands never hold any.
    public static func startRecording() {
        state.withLockedValue { $0.recording = true }
    }

    /// One console line, without its newline.
    public static func record(_ line: String) {
        let time = StreamClock.now()
        let buffer: RecordBuffer? = state.withLockedValue { state in
            guard state.recording else { return nil }
            if state.buffer == nil, state.early.count < earlyLimit { state.early.append((time, line)) }
            return state.buffer
        }
        buffer?.append(.line(.`init`, ByteBuffer(string: line)), time: time)
    }

    static func attach(_ buffer: RecordBuffer) {
        let early = state.withLockedValue { state in
            defer { state.early = [] }
            state.buffer = buffer
            return state.early
        }
        for (time, line) in early { buffer.append(.line(.`init`, ByteBuffer(string: line)), time: time) }
    }

    static func detach() {
        state.withLockedValue { $0.buffer = nil; $0.recording = false }
    }
}
