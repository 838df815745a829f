import CSupport
import Glibc

/// One direction of a spliced connection: bytes from `from` go to `to`, in order, through a
/// pipe (or, where a socket cannot splice, through a copy). At most one pipe's worth plus one
/// read of bytes is ever in flight: a slow reader stalls its writer.
final class SpliceDirection {
    enum Progress: Equatable {
        /// Nothing more can move until the loop reports the sockets ready again.
        case waiting
        /// EOF reached `from` and was passed on as shutdown(SHUT_WR) of `to`.
        case finished
        /// Moved its share for this turn; more may be ready.
        case budgetSpent
        /// A socket failed (reset, broken pipe): the connection must go.
        case failed(CInt)
    }

    let from: CInt
    let to: CInt
    private let count: @Sendable (Int) -> Void
    private var pipe: SplicePipe?
    private var inPipe = 0
    /// Bytes to write before anything else: what NIO read before the hand-over, or what a
    /// copy could not write at once.
    private var pending: [UInt8]
    private var pendingOffset = 0
    private var sawEOF: Bool
    private var finished = false
    /// splice(2) is refused for this pair of sockets (EINVAL): copy through `scratch`.
    private var copyOnly = false

    init(from: CInt, to: CInt, first: [UInt8], sawEOF: Bool, count: @escaping @Sendable (Int) -> Void) {
        self.from = from
        self.to = to
        self.pending = first
        self.sawEOF = sawEOF
        self.count = count
    }

    var isFinished: Bool { finished }

    /// Moves what it can, up to about `budget` bytes read this turn.
    func pump(budget: Int, pipes: inout PipePool, scratch: UnsafeMutableRawBufferPointer) -> Progress {
        guard !finished else { return .finished }
        var moved = 0
        while true {
            if pendingOffset < pending.count {
                let written = pending.withUnsafeBytes { bytes in
                    Glibc.write(to, bytes.baseAddress! + pendingOffset, bytes.count - pendingOffset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    return Self.wouldBlock(errno) ? .waiting : .failed(errno)
                }
                pendingOffset += written
                if pendingOffset == pending.count {
                    pending = []
                    pendingOffset = 0
                }
                continue
            }
            if inPipe > 0, let pipe {
                let spliced = ei_splice(pipe.readEnd, to, inPipe)
                if spliced < 0 {
                    let code = errno
                    if Self.wouldBlock(code) { return .waiting }
                    guard code == EINVAL else { return .failed(code) }
                    // `to` takes no spliced pages: what the pipe holds is written by copy.
                    copyOnly = true
                    pending = readAll(of: pipe, count: inPipe)
                    inPipe = 0
                    release(into: &pipes)
                    continue
                }
                inPipe -= spliced
                continue
            }
            if sawEOF {
                // An error here (the peer already gone) shows up on the other direction.
                _ = shutdown(to, CInt(SHUT_WR))
                finished = true
                release(into: &pipes)
                return .finished
            }
            if moved >= budget { return .budgetSpent }
            if !copyOnly, let pipe = pipe ?? pipes.take() {
                self.pipe = pipe
                let spliced = ei_splice(from, pipe.writeEnd, pipe.capacity)
                if spliced > 0 {
                    inPipe = spliced
                    moved += spliced
                    count(spliced)
                    continue
                }
                if spliced == 0 {
                    sawEOF = true
                    continue
                }
                let code = errno
                release(into: &pipes)
                if Self.wouldBlock(code) { return .waiting }
                guard code == EINVAL else { return .failed(code) }
                copyOnly = true // `from` cannot splice: copy from now on
                continue
            }
            // No pipe (descriptors ran out) or no splice: one read, then its write.
            let received = Glibc.read(from, scratch.baseAddress, scratch.count)
            if received == 0 {
                sawEOF = true
                continue
            }
            if received < 0 {
                if errno == EINTR { continue }
                return Self.wouldBlock(errno) ? .waiting : .failed(errno)
            }
            moved += received
            count(received)
            // Written straight from the read buffer; only what `to` cannot take now is kept.
            let written = Glibc.write(to, scratch.baseAddress, received)
            if written < 0 && !Self.wouldBlock(errno) && errno != EINTR { return .failed(errno) }
            let taken = max(0, written)
            if taken < received {
                pending = Array(scratch[taken..<received])
                pendingOffset = 0
            }
        }
    }

    /// Gives the pipe back if it is empty; one that still holds bytes (the connection is being
    /// torn down) is closed, so no later connection sees them.
    func release(into pipes: inout PipePool) {
        guard let pipe else { return }
        self.pipe = nil
        if inPipe == 0 {
            pipes.giveBack(pipe)
        } else {
            pipes.discard(pipe)
            inPipe = 0
        }
    }

    private func readAll(of pipe: SplicePipe, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(pipe.readEnd, $0.baseAddress! + got, count - got) }
            if n <= 0 { break }
            got += n
        }
        return Array(bytes[0..<got])
    }

    private static func wouldBlock(_ code: CInt) -> Bool { code == EAGAIN || code == EWOULDBLOCK }
}
