import CSupport
import Glibc
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Services

/// The app's stdout and stderr through pipes, read by one thread of its own: each chunk goes to
/// enclave-init's own stdout or stderr unchanged (the console), then is cut into line records
/// for the log stream. The reader never waits for the parent (the buffer drops the oldest
/// instead), so the app is held up only as much as by the console itself.
///
/// One thread for both pipes, serving them in the order they became readable (epoll's ready
/// list), keeps the console's interleaving of stdout and stderr as the app wrote it: with a
/// thread per pipe, whichever woke first wrote first, and 3% of the lines of an app printing
/// to stdout then stderr every millisecond came out swapped. (Only when the app writes to both
/// faster than the console takes them can two chunks still be read in another order.)
///
/// enclave-init keeps the pipes' write ends, so they outlive restarts of the app; `finish`
/// closes them once the app and everything it started are gone, and waits for the reader to
/// read to the end.
public final class OutputCapture: @unchecked Sendable {
    /// Give to the app as its stdout and stderr.
    public let stdoutWriter: Int32
    public let stderrWriter: Int32
    /// Its own thread: console writes block, and must not hold up the log senders.
    private let reader = EventLoops.one()
    /// One per pipe: true once its reader has reached the end.
    private let finished = [ConditionLock(value: false), ConditionLock(value: false)]

    /// Pipes get this much room (F_SETPIPE_SZ), so bursts do not block the app while the reader
    /// catches up; the kernel's limit (pipe-max-size, 1 MiB by default) may cap it.
    static let pipeCapacity: Int32 = 1 << 20
    static let readSize = 64 * 1024

    /// Why the app's output cannot be captured (the app step then fails).
    enum Failure: Error, CustomStringConvertible {
        case pipe(errno: Int32)
        case adopt(Error)

        var description: String {
            switch self {
            case .pipe(let code): return "cannot create a pipe for the app's output: \(String(cString: strerror(code)))"
            case .adopt(let error): return "cannot read the app's output: \(error)"
            }
        }
    }

    /// `console`: where the bytes go unchanged (tests pass somewhere quieter than their own).
    init(buffer: RecordBuffer, console: (stdout: Int32, stderr: Int32) = (STDOUT_FILENO, STDERR_FILENO)) throws {
        let stdoutPipe = try Self.makePipe()
        let stderrPipe: (reader: Int32, writer: Int32)
        do { stderrPipe = try Self.makePipe() } catch {
            Self.close(stdoutPipe)
            throw error
        }
        stdoutWriter = stdoutPipe.writer
        stderrWriter = stderrPipe.writer
        let pipes = [(stdoutPipe.reader, LogSource.stdout, console.stdout), (stderrPipe.reader, .stderr, console.stderr)]
        var channels: [Channel] = []
        for ((fd, source, console), done) in zip(pipes, finished) {
            let bootstrap = NIOPipeBootstrap(group: reader)
                .channelOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.readSize))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            PipeReader(source: source, console: console, buffer: buffer, done: done))
                    }
                }
            do {
                channels.append(try bootstrap.takingOwnershipOfDescriptor(input: fd).wait())
            } catch {
                // A channel that exists owns (and closes) its read end; the rest are ours.
                for channel in channels { try? channel.close().wait() }
                for (unowned, _, _) in pipes.dropFirst(channels.count) { Glibc.close(unowned) }
                Glibc.close(stdoutPipe.writer)
                Glibc.close(stderrPipe.writer)
                throw Failure.adopt(error)
            }
        }
    }

    /// Closes the write ends and waits until both pipes are passed on to the end, or until
    /// `timeout` (a process that escaped the shutdown may still hold a write end).
    public func finish(timeout: Duration) -> Bool {
        Glibc.close(stdoutWriter)
        Glibc.close(stderrWriter)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        for done in finished {
            let left = max(.zero, deadline - clock.now).components
            guard done.lock(whenValue: true, timeoutSeconds: Double(left.seconds) + Double(left.attoseconds) / 1e18) else { return false }
            done.unlock()
        }
        return true
    }

    private static func makePipe() throws -> (reader: Int32, writer: Int32) {
        var fds: [Int32] = [0, 0]
        guard ei_output_pipe(&fds, pipeCapacity) == 0 else {
            throw Failure.pipe(errno: errno)
        }
        return (fds[0], fds[1])
    }

    private static func close(_ pipe: (reader: Int32, writer: Int32)) {
        Glibc.close(pipe.reader)
        Glibc.close(pipe.writer)
    }

    /// Records keep their chunk's storage alive: a small read (an app that writes a line now
    /// and then) gets storage of its own size, or each short line would pin 64 KiB and the
    /// 1 MiB record budget could hold on to a gigabyte. A read that fills at least half of the
    /// chunk is used as it is (the buffer's budget then bounds memory to twice its size).
    static func compact(_ chunk: ByteBuffer) -> ByteBuffer {
        guard chunk.readableBytes * 2 < chunk.storageCapacity else { return chunk }
        var own = ByteBufferAllocator().buffer(capacity: chunk.readableBytes)
        own.writeImmutableBuffer(chunk)
        return own
    }

    /// A console that is gone (EIO, EPIPE) is skipped; the records still go to the parent.
    static func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32) {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}

/// One pipe, on the capture thread: console first (unchanged bytes), then records. The end of
/// the pipe (or a read error) closes the channel, which flushes a last unterminated line.
private final class PipeReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let source: LogSource
    private let console: Int32
    private let buffer: RecordBuffer
    private let done: ConditionLock<Bool>
    private var splitter = LineSplitter()
    private var lines: [ByteBuffer] = []

    init(source: LogSource, console: Int32, buffer: RecordBuffer, done: ConditionLock<Bool>) {
        self.source = source
        self.console = console
        self.buffer = buffer
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let chunk = unwrapInboundIn(data)
        chunk.withUnsafeReadableBytes { OutputCapture.writeAll($0, to: console) }
        lines.removeAll(keepingCapacity: true)
        splitter.feed(OutputCapture.compact(chunk), into: &lines)
        buffer.append(lines.lazy.map { [source] in .line(source, $0) })
    }

    func channelInactive(context: ChannelHandlerContext) {
        lines.removeAll()
        splitter.finish(into: &lines)
        buffer.append(lines.lazy.map { [source] in .line(source, $0) })
        done.lock()
        done.unlock(withValue: true)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
