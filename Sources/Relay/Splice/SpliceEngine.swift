import NIOConcurrencyHelpers

/// Relays established connections with splice(2): the kernel moves each byte from one socket
/// to the other through a pipe without copying it into the process. SwiftNIO sets connections
/// up (accept, dial, proxy handshakes) and hands both sockets over; reading them through NIO
/// instead meant two copies per byte per hop, half of all CPU time in `scripts/bench relay`.
final class SpliceEngine: Sendable {
    private let loops: [SpliceLoop]
    private let turn = NIOLockedValueBox(0)
    private let taken = NIOLockedValueBox(0)

    /// Connections handed over so far (a relay test's proof that bytes took this path).
    var connectionsTaken: Int { taken.withLockedValue { $0 } }

    /// `pipeLimit`: pipes per thread, beyond which busy connections are copied instead.
    init(threads: Int, pipeLimit: Int = PipePool.defaultLimit) throws(RelayError) {
        var loops: [SpliceLoop] = []
        do {
            for _ in 0..<max(1, threads) {
                let loop = try SpliceLoop(pipeLimit: pipeLimit)
                try loop.start()
                loops.append(loop)
            }
        } catch {
            for loop in loops { loop.stop() }
            throw error
        }
        self.loops = loops
    }

    /// Takes over both sockets of a connection (round robin over the loops).
    func relay(_ handover: SpliceHandover) {
        taken.withLockedValue { $0 += 1 }
        let index = turn.withLockedValue { turn in
            defer { turn = (turn + 1) % loops.count }
            return turn
        }
        loops[index].relay(handover)
    }

    /// Closes what is still relayed and ends the threads.
    func stop() {
        for loop in loops { loop.stop() }
    }
}
