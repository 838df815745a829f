/// One direction of a spliced connection as a value: what it holds (nothing, bytes in memory,
/// bytes in its pipe), whether its input ended, whether it may still splice, and what to do
/// next. `SpliceDirection` makes the system calls and reports each result here as an event;
/// the order of the byte path's rules lives in `next` alone and is tested without sockets:
/// held bytes go out before anything is read, EOF is passed on only once nothing is held, and
/// a turn stops reading once its budget is spent (but always finishes writing what it holds).
struct SpliceDirectionState: Equatable {
    enum Held: Equatable {
        case nothing
        /// Bytes to write before anything else: what NIO read before the hand-over, what a copy
        /// could not write at once, or what a pipe held when `to` refused spliced pages.
        case memory(ArraySlice<UInt8>)
        /// Bytes spliced into the pipe and not yet out of it.
        case pipe(Int)
    }

    enum Mode: Equatable {
        case splice
        /// splice(2) was refused for this pair of sockets (EINVAL): copy from now on.
        case copy
    }

    enum Action: Equatable {
        /// write(2) the held bytes to `to`.
        case writeHeld(ArraySlice<UInt8>)
        /// splice(2) this many bytes from the pipe to `to`.
        case spliceOut(Int)
        /// Input ended and nothing is held: shutdown(SHUT_WR) of `to`.
        case passOnEOF
        /// Read from `from`: into a pipe (`splice`), or with read(2) and write(2).
        case read(splice: Bool)
        /// This turn's budget is spent; more may be ready.
        case yield
        /// EOF was passed on: nothing more moves this way.
        case finished
    }

    private(set) var held: Held
    private(set) var mode = Mode.splice
    private(set) var inputEnded: Bool
    private(set) var isFinished = false

    init(first: [UInt8], inputEnded: Bool) {
        held = first.isEmpty ? .nothing : .memory(first[...])
        self.inputEnded = inputEnded
    }

    /// What to do now, `moved` bytes having been read this turn.
    func next(moved: Int, budget: Int) -> Action {
        if isFinished { return .finished }
        switch held {
        case .memory(let bytes): return .writeHeld(bytes)
        case .pipe(let count): return .spliceOut(count)
        case .nothing:
            if inputEnded { return .passOnEOF }
            if moved >= budget { return .yield }
            return .read(splice: mode == .splice)
        }
    }

    // MARK: - Events: what the last system call did

    /// `count` of the held bytes were written.
    mutating func wrote(_ count: Int) {
        guard case .memory(let bytes) = held else { return }
        let rest = bytes.dropFirst(count)
        held = rest.isEmpty ? .nothing : .memory(rest)
    }

    /// `count` bytes left the pipe for `to`.
    mutating func splicedOut(_ count: Int) {
        guard case .pipe(let inPipe) = held else { return }
        held = inPipe - count > 0 ? .pipe(inPipe - count) : .nothing
    }

    /// `to` takes no spliced pages (EINVAL): what the pipe held, read back, is written by copy.
    mutating func spliceOutRefused(pipeHeld bytes: [UInt8]) {
        mode = .copy
        held = bytes.isEmpty ? .nothing : .memory(bytes[...])
    }

    /// `count` bytes went from `from` into the pipe.
    mutating func splicedIn(_ count: Int) {
        held = .pipe(count)
    }

    /// `from` cannot be spliced from (EINVAL): copy from now on.
    mutating func spliceInRefused() {
        mode = .copy
    }

    /// A copy read `received` bytes and wrote the first `written` of them; `unwritten` is the
    /// rest, held until `to` takes it.
    mutating func copied(unwritten: ArraySlice<UInt8>) {
        held = unwritten.isEmpty ? .nothing : .memory(unwritten)
    }

    /// A read returned 0.
    mutating func inputReachedEOF() {
        inputEnded = true
    }

    /// EOF was passed on with shutdown(SHUT_WR).
    mutating func passedOnEOF() {
        isFinished = true
    }

    /// The pipe was closed with bytes still in it (the connection is being torn down).
    mutating func pipeDiscarded() {
        if case .pipe = held { held = .nothing }
    }

    /// Bytes in the pipe, which a teardown must not hand to the next connection.
    var bytesInPipe: Int {
        if case .pipe(let count) = held { return count }
        return 0
    }
}
