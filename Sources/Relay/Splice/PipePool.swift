import CSupport
import Glibc

/// A pipe between one socket's receive queue and its partner's send queue: splice(2) moves
/// page references into it and out again, so relayed bytes never cross into user space.
struct SplicePipe {
    let readEnd: CInt
    let writeEnd: CInt
    let capacity: Int

    func close() {
        Glibc.close(readEnd)
        Glibc.close(writeEnd)
    }
}

/// The pipes of one splice loop. A direction holds a pipe only while bytes are in it and gives
/// it back empty, so descriptors follow the connections that are moving data, not the ones
/// that are open: 1,000 idle connections hold no pipe, and a loop with no connections holds none.
struct PipePool {
    /// 1 MiB (the kernel's default pipe-max-size) per busy direction: one splice takes what a
    /// 1 MiB Unix socket buffer holds. In alternating `scripts/bench relay` runs 8 streams
    /// went 3.01x/3.26x socat with 1 MiB pipes, 2.74x/3.07x with 256 KiB (more splices per
    /// byte); a pipe holds page references, so the size is a bound, not an allocation.
    static let capacity = 1 << 20
    /// Empty pipes kept for the next busy direction, beyond which they are closed.
    static let keptIdle = 32
    /// Pipes open at once per loop (two descriptors each); past it a busy direction copies.
    static let defaultLimit = 512

    private let limit: Int
    private var idle: [SplicePipe] = []
    /// Pipes made and not yet closed, idle or in use.
    private(set) var open = 0

    init(limit: Int = PipePool.defaultLimit) {
        self.limit = limit
    }

    /// A pipe, or nil at the limit or when none can be made (EMFILE and the like): the caller
    /// copies instead.
    mutating func take() -> SplicePipe? {
        if let pipe = idle.popLast() { return pipe }
        guard open < limit else { return nil }
        var ends: [CInt] = [-1, -1]
        let capacity = ei_pipe(&ends, CInt(Self.capacity))
        guard capacity > 0 else { return nil }
        open += 1
        return SplicePipe(readEnd: ends[0], writeEnd: ends[1], capacity: Int(capacity))
    }

    /// Takes back an empty pipe.
    mutating func giveBack(_ pipe: SplicePipe) {
        if idle.count < Self.keptIdle {
            idle.append(pipe)
        } else {
            discard(pipe)
        }
    }

    /// Closes a pipe that must not be used again (it still holds a dead connection's bytes).
    mutating func discard(_ pipe: SplicePipe) {
        pipe.close()
        open -= 1
    }

    /// Closes idle pipes beyond `count`: a loop keeps no more spare pipes than it has
    /// connections, so its descriptors come back as connections end.
    mutating func trim(keeping count: Int) {
        while idle.count > count, let pipe = idle.popLast() { discard(pipe) }
    }

    mutating func closeAll() {
        for pipe in idle { discard(pipe) }
        idle.removeAll()
    }
}
