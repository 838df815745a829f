import CSupport
import Glibc
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The app's stdout and stderr through pipes: each pipe has a reader thread that passes the
/// bytes on to enclave-init's own stdout or stderr unchanged (the console), then cuts them into
/// line records for the log stream. The readers never wait for the parent (the buffer drops the
/// oldest instead), so the app is held up only as much as by the console itself.
///
/// enclave-init keeps the pipes' write ends, so they outlive restarts of the app; `finish`
/// closes them once the app and everything it started are gone, and waits for the readers to
/// read to the end.
public final class OutputCapture: @unchecked Sendable {
    /// Give to the app as its stdout and stderr.
    public let stdoutWriter: Int32
    public let stderrWriter: Int32
    private let readers: NIOThreadPool
    /// One per reader: true once it has reached the end of its pipe.
    private let finished = [ConditionLock(value: false), ConditionLock(value: false)]

    /// Pipes get this much room (F_SETPIPE_SZ), so bursts do not block the app while a reader
    /// catches up; the kernel's limit (pipe-max-size, 1 MiB by default) may cap it.
    static let pipeCapacity: Int32 = 1 << 20
    static let readSize = 64 * 1024

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `console`: where the bytes go unchanged (tests pass somewhere quieter than their own).
    init(buffer: RecordBuffer, console: (stdout: Int32, stderr: Int32) = (STDOUT_FILENO, STDERR_FILENO)) throws {
        let stdoutPipe = try Self.makePipe()
        let stderrPipe = try Self.makePipe()
        stdoutWriter = stdoutPipe.writer
        stderrWriter = stderrPipe.writer
        readers = NIOThreadPool(numberOfThreads: 2)
        readers.start()
        let pipes = [(stdoutPipe.reader, LogSource.stdout, console.stdout), (stderrPipe.reader, .stderr, console.stderr)]
        for ((reader, source, console), done) in zip(pipes, finished) {
            readers.submit { _ in
                Self.copy(from: reader, to: console, source: source, buffer: buffer)
                close(reader)
                done.lock()
                done.unlock(withValue: true)
            }
        }
    }

    /// Closes the write ends and waits until both readers have passed on everything, or until
    /// `timeout` (a process that escaped the shutdown may still hold a write end).
    public func finish(timeout: Duration) -> Bool {
        close(stdoutWriter)
        close(stderrWriter)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        for done in finished {
            let left = max(.zero, deadline - clock.now).components
            guard done.lock(whenValue: true, timeoutSeconds: Double(left.seconds) + Double(left.attoseconds) / 1e18) else { return false }
            done.unlock()
        }
        try? readers.syncShutdownGracefully()
        return true
    }

    private static func makePipe() throws -> (reader: Int32, writer: Int32) {
        var fds: [Int32] = [0, 0]
        guard ei_output_pipe(&fds, pipeCapacity) == 0 else {
            throw Failure(description: "cannot create a pipe for the app's output: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }

    /// The reader thread: console first (unchanged bytes), then records.
    private static func copy(from reader: Int32, to console: Int32, source: LogSource, buffer: RecordBuffer) {
        var splitter = LineSplitter()
        var lines: [ByteBuffer] = []
        var chunk = ByteBufferAllocator().buffer(capacity: readSize)
        while true {
            chunk.clear() // reuses the storage unless records still hold it
            var result = 0
            _ = chunk.writeWithUnsafeMutableBytes(minimumWritableBytes: readSize) { space in
                repeat { result = read(reader, space.baseAddress, space.count) } while result < 0 && errno == EINTR
                return max(result, 0)
            }
            guard result > 0 else { break } // end of output (or a broken pipe: nothing more to read)
            chunk.withUnsafeReadableBytes { Self.writeAll($0, to: console) }
            lines.removeAll(keepingCapacity: true)
            splitter.feed(Self.compact(chunk), into: &lines)
            buffer.append(lines.lazy.map { .line(source, $0) })
        }
        lines.removeAll()
        splitter.finish(into: &lines)
        buffer.append(lines.lazy.map { .line(source, $0) })
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
    private static func writeAll(_ bytes: UnsafeRawBufferPointer, to fd: Int32) {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }
}
