import BootConfig
import CSupport
import Glibc
import Logging
import NIOCore
import NIOPosix
import Services
import Addressing

/// Step 4: the log and status streams to the parent, as the boot JSON asks for them.
///
/// Each stream has its own bounded buffer and connection (vsock parent_cid:vsock_port, or its
/// Unix-socket emulation); both share one of the process's event loops. Nothing here ever blocks a caller:
/// records wait in the buffers until the parent acknowledges them.
public final class EnclaveStreams: @unchecked Sendable {
    /// Status events are few; this holds thousands of restarts' worth.
    static let statusBudget = 256 * 1024

    private let logs: StreamSender?
    private let status: StreamSender?
    private let logger: Logger
    /// Set when the app's output is captured (only with a log stream).
    public private(set) var capture: OutputCapture?

    /// Identifies this boot to the parent, so that seq 1 of the next boot is not taken for a repeat.
    public let bootID = EnclaveStreams.randomBootID()

    public init(config: BootConfiguration, emulation: VsockEmulation?, logger: Logger) {
        self.logger = logger
        let loop = EventLoops.one()
        let boot = bootID
        func sender(_ kind: StreamKind, port: UInt32, budget: Int) -> StreamSender {
            StreamSender(kind: kind, target: .vsock(cid: config.parentCID, port: port), buffer: RecordBuffer(budget: budget),
                         bootID: boot, emulation: emulation, eventLoop: loop, logger: logger)
        }
        logs = config.logs.map { sender(.logs, port: $0.vsockPort, budget: $0.bufferBytes) }
        status = config.status.map { sender(.status, port: $0.vsockPort, budget: Self.statusBudget) }
        if let logs { InitLog.attach(logs.buffer) }
        logs?.start()
        status?.start()
    }

    /// "logs -> vsock:3:9100, status -> vsock:3:9101"
    public var summary: String {
        [logs, status].compactMap { $0 }.map { "\($0.kind.rawValue) -> \($0.target)" }.joined(separator: ", ")
    }

    /// Pipes for the app's stdout and stderr, when there is a log stream to send them to.
    public func captureOutput() throws -> OutputCapture? {
        guard let logs else { return nil }
        if capture == nil { capture = try OutputCapture(buffer: logs.buffer) }
        return capture
    }

    public func report(_ event: StatusEvent) {
        status?.buffer.append(.event(event))
    }

    /// The end: the app's last output is read, then both streams get until `timeout` to be
    /// acknowledged by the parent (a power-off right after would lose them), then close.
    /// Returns what the parent did not get, for the last log line ("" when it got everything).
    public func finish(timeout: Duration) -> String {
        let deadline = NIODeadline.now() + .nanoseconds(timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        if let capture, !capture.finish(timeout: timeout) {
            logger.warning("logs: the app's output pipes are still held open (by a process that survived shutdown?); not waiting for them")
        }
        let senders = [logs, status].compactMap { $0 }
        while NIODeadline.now() < deadline, !senders.allSatisfy({ $0.buffer.isDrained }) {
            usleep(5_000)
        }
        InitLog.detach()
        let missing = senders.compactMap { sender -> String? in
            let state = sender.buffer.state
            guard state.records > 0 else { return nil }
            return "\(sender.kind.rawValue): \(state.records) records not acknowledged by the parent"
        }
        for sender in senders { try? sender.stop().wait() }
        return missing.joined(separator: "; ")
    }

    private static func randomBootID() -> String {
        var bytes = [UInt8](repeating: 0, count: 8)
        // GRND_NONBLOCK: early in a boot the pool may not be ready; time and pid are enough then.
        if ei_random_bytes(&bytes, bytes.count) != 0 {
            let seed = UInt64(time(nil)) ^ UInt64(getpid()) << 40 ^ UInt64(bitPattern: StreamClock.now())
            for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: seed >> (8 * UInt64(index))) }
        }
        let digits = Array("0123456789abcdef")
        return String(bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xF)]] })
    }
}
