import Glibc
import NIOCore

/// Cuts the app's output into lines for records. A line is at most `maximum` bytes: a longer
/// one becomes several records (the console still gets it whole). The newline is not kept.
struct LineSplitter {
    static let maximumLine = 16 * 1024
    let maximum: Int
    /// The start of a line whose newline has not arrived yet.
    private var partial: ByteBuffer?

    init(maximum: Int = LineSplitter.maximumLine) {
        self.maximum = maximum
    }

    /// The complete lines of `chunk` (which the lines share storage with: no copy), in order.
    mutating func feed(_ chunk: ByteBuffer, into lines: inout [ByteBuffer]) {
        var chunk = chunk
        while let length = Self.lengthUntilNewline(chunk) {
            var line = chunk.readSlice(length: length)!
            chunk.moveReaderIndex(forwardBy: 1)
            if var start = partial {
                partial = nil
                start.writeBuffer(&line)
                line = start
            }
            emit(line, into: &lines)
        }
        guard chunk.readableBytes > 0 else { return }
        if var start = partial {
            start.writeBuffer(&chunk)
            partial = start
        } else {
            partial = chunk
        }
        // A line that never ends is sent in pieces of `maximum` bytes.
        while let pending = partial, pending.readableBytes >= maximum {
            var rest = pending
            lines.append(rest.readSlice(length: maximum)!)
            partial = rest.readableBytes > 0 ? rest : nil
        }
    }

    /// What is left when the output ends without a final newline.
    mutating func finish(into lines: inout [ByteBuffer]) {
        if let partial, partial.readableBytes > 0 { lines.append(partial) }
        partial = nil
    }

    /// memchr: the generic firstIndex(of:) over a ByteBufferView cost about 1 ns per byte.
    private static func lengthUntilNewline(_ chunk: ByteBuffer) -> Int? {
        chunk.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, let found = memchr(base, 0x0A, bytes.count) else { return nil }
            return UnsafeRawPointer(found) - base
        }
    }

    private func emit(_ line: ByteBuffer, into lines: inout [ByteBuffer]) {
        var line = line
        while line.readableBytes > maximum { lines.append(line.readSlice(length: maximum)!) }
        lines.append(line)
    }
}
