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
    /// What it holds and may do: the rules of the byte path, as a value.
    private var state: SpliceDirectionState
    /// The pipe it splices through while bytes are in flight (none while idle).
    private var pipe: SplicePipe?

    init(from: CInt, to: CInt, first: [UInt8], sawEOF: Bool, count: @escaping @Sendable (Int) -> Void) {
        self.from = from
        self.to = to
        self.state = SpliceDirectionState(first: first, inputEnded: sawEOF)
        self.count = count
    }

    var isFinished: Bool { state.isFinished }

    /// Moves what it can, up to about `budget` bytes read this turn: carries out what the state
    /// says to do next and reports each system call's result back to it.
    func pump(budget: Int, pipes: inout PipePool, scratch: UnsafeMutableRawBufferPointer) -> Progress {
        var moved = 0
        while true {
            switch state.next(moved: moved, budget: budget) {
            case .finished:
                return .finished
            case .yield:
                return .budgetSpent
            case .writeHeld(let bytes):
                let written = bytes.withUnsafeBytes { Glibc.write(to, $0.baseAddress!, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    return Self.wouldBlock(errno) ? .waiting : .failed(errno)
                }
                state.wrote(written)
            case .spliceOut(let inPipe):
                guard let pipe else { return .failed(EBADF) } // bytes in a pipe it does not hold: cannot happen
                let spliced = ei_splice(pipe.readEnd, to, inPipe)
                if spliced >= 0 {
                    state.splicedOut(spliced)
                    continue
                }
                let code = errno
                if Self.wouldBlock(code) { return .waiting }
                guard code == EINVAL else { return .failed(code) }
                // `to` takes no spliced pages: what the pipe holds is written by copy.
                state.spliceOutRefused(pipeHeld: readAll(of: pipe, count: inPipe))
                release(into: &pipes)
            case .passOnEOF:
                // An error here (the peer already gone) shows up on the other direction.
                _ = shutdown(to, CInt(SHUT_WR))
                state.passedOnEOF()
                release(into: &pipes)
                return .finished
            case .read(splice: true):
                guard let pipe = pipe ?? pipes.take() else { fallthrough } // no descriptor left: copy this once
                self.pipe = pipe
                let spliced = ei_splice(from, pipe.writeEnd, pipe.capacity)
                if spliced > 0 {
                    moved += spliced
                    count(spliced)
                    state.splicedIn(spliced)
                    continue
                }
                if spliced == 0 {
                    state.inputReachedEOF()
                    continue
                }
                let code = errno
                release(into: &pipes)
                if Self.wouldBlock(code) { return .waiting }
                guard code == EINVAL else { return .failed(code) }
                state.spliceInRefused() // `from` cannot splice: copy from now on
            case .read(splice: false):
                // One read, then its write, straight from the read buffer; only what `to`
                // cannot take now is kept.
                let received = Glibc.read(from, scratch.baseAddress, scratch.count)
                if received == 0 {
                    state.inputReachedEOF()
                    continue
                }
                if received < 0 {
                    if errno == EINTR { continue }
                    return Self.wouldBlock(errno) ? .waiting : .failed(errno)
                }
                moved += received
                count(received)
                let written = Glibc.write(to, scratch.baseAddress, received)
                if written < 0 && !Self.wouldBlock(errno) && errno != EINTR { return .failed(errno) }
                state.copied(unwritten: ArraySlice(scratch[max(0, written)..<received]))
            }
        }
    }

    /// Gives the pipe back if it is empty; one that still holds bytes (the connection is being
    /// torn down) is closed, so no later connection sees them.
    func release(into pipes: inout PipePool) {
        guard let pipe else { return }
        self.pipe = nil
        if state.bytesInPipe == 0 {
            pipes.giveBack(pipe)
        } else {
            pipes.discard(pipe)
            state.pipeDiscarded()
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
