import Glibc
import NIOCore

/// Cuts the app's output into lines for records. A line is at most `maximum` bytes: a longer
/// one becomes several records (the console still gets it whole). The newline is not kept.
///
/// Lines share storage with the chunks they came from (no copy); only a line that spans two
/// chunks is copied, and then at most `maximum` bytes of it, so output that never ends a line
/// costs no more than output that does.
struct LineSplitter {
    static let maximumLine = 16 * 1024
    let maximum: Int
    /// The start of a line whose newline has not arrived yet: always shorter than `maximum`,
    /// and a narrow slice (readerIndex 0), so appending to it copies only its own bytes —
    /// never the consumed front of the chunk it came from.
    private var partial: ByteBuffer?
    /// The last record was a full `maximum`-byte piece of a line that goes on: a newline that
    /// comes right after it ends that line and is not a line (an empty record) of its own.
    private var pieceEndedAtLimit = false

    init(maximum: Int = LineSplitter.maximumLine) {
        self.maximum = maximum
    }

    /// The complete lines of `chunk` (and pieces of `maximum` bytes of longer ones), in order.
    mutating func feed(_ chunk: ByteBuffer, into lines: inout [ByteBuffer]) {
        var chunk = chunk
        while chunk.readableBytes > 0 {
            // Only a newline within what the current record may still hold matters: searching
            // further re-scanned the rest of a newline-less chunk for every 16 KiB piece.
            let newline = Self.lengthUntilNewline(chunk, within: maximum - (partial?.readableBytes ?? 0) + 1)
            if pieceEndedAtLimit {
                pieceEndedAtLimit = false
                if newline == 0 {
                    chunk.moveReaderIndex(forwardBy: 1)
                    continue
                }
            }
            if var start = partial {
                // Complete the pending line, with no more than it may still hold.
                let length = min(newline ?? chunk.readableBytes, maximum - start.readableBytes)
                var piece = chunk.readSlice(length: length)!
                start.writeBuffer(&piece)
                if length == newline {
                    chunk.moveReaderIndex(forwardBy: 1)
                    lines.append(start)
                    partial = nil
                } else if start.readableBytes == maximum {
                    lines.append(start)
                    partial = nil
                    pieceEndedAtLimit = true
                } else {
                    partial = start
                }
            } else if let length = newline, length <= maximum {
                lines.append(chunk.readSlice(length: length)!)
                chunk.moveReaderIndex(forwardBy: 1)
            } else if chunk.readableBytes >= maximum {
                lines.append(chunk.readSlice(length: maximum)!)
                pieceEndedAtLimit = true
            } else {
                partial = chunk.slice()
                return
            }
        }
    }

    /// What is left when the output ends without a final newline.
    mutating func finish(into lines: inout [ByteBuffer]) {
        if let partial, partial.readableBytes > 0 { lines.append(partial) }
        partial = nil
    }

    /// The storage the pending line holds on to (for tests: it must stay small).
    var pendingStorage: Int { partial?.storageCapacity ?? 0 }

    /// The first newline among the first `limit` bytes. memchr: the generic firstIndex(of:)
    /// over a ByteBufferView cost about 1 ns per byte.
    private static func lengthUntilNewline(_ chunk: ByteBuffer, within limit: Int) -> Int? {
        chunk.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, let found = memchr(base, 0x0A, min(bytes.count, limit)) else { return nil }
            return UnsafeRawPointer(found) - base
        }
    }
}
