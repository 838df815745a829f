import CSupport
import Glibc

/// A connection NIO set up (accepted, dialled, maybe a proxy handshake) and handed to the
/// splice engine: two sockets the engine now owns, and what each side sent before the
/// hand-over, which goes out first.
struct SpliceHandover: Sendable {
    var client: CInt
    var server: CInt
    /// Read from the client (server) before the hand-over, with whether its EOF came too.
    var fromClient: [UInt8]
    var clientEOF: Bool
    var fromServer: [UInt8]
    var serverEOF: Bool
    /// Bytes read from the client and from the server, as they move.
    var countIn: @Sendable (Int) -> Void
    var countOut: @Sendable (Int) -> Void
    /// Called once, on the engine's thread, when both sockets are closed.
    var ended: @Sendable () -> Void
}

/// Both directions of one spliced connection, with the relay's rules: EOF on one side becomes
/// shutdown(SHUT_WR) on the other while the other direction keeps flowing; when both have
/// ended, both sockets close; a failure (reset, broken pipe) on either side resets both.
final class SplicedConnection {
    enum State { case open, moreReady, closed }

    let handover: SpliceHandover
    private let upstream: SpliceDirection
    private let downstream: SpliceDirection

    init(_ handover: SpliceHandover) {
        self.handover = handover
        upstream = SpliceDirection(from: handover.client, to: handover.server, first: handover.fromClient,
                                   sawEOF: handover.clientEOF, count: handover.countIn)
        downstream = SpliceDirection(from: handover.server, to: handover.client, first: handover.fromServer,
                                     sawEOF: handover.serverEOF, count: handover.countOut)
    }

    /// Moves what is ready both ways. `hangUp`: the loop saw an error or hang-up on a socket,
    /// which an idle direction would otherwise never notice.
    func service(hangUp: Bool, budget: Int, pipes: inout PipePool, scratch: UnsafeMutableRawBufferPointer, epoll: CInt) -> State {
        if hangUp && (Self.pendingError(handover.client) != 0 || Self.pendingError(handover.server) != 0) {
            close(abort: true, pipes: &pipes, epoll: epoll)
            return .closed
        }
        let up = upstream.pump(budget: budget, pipes: &pipes, scratch: scratch)
        let down = downstream.pump(budget: budget, pipes: &pipes, scratch: scratch)
        for progress in [up, down] {
            if case .failed = progress {
                close(abort: true, pipes: &pipes, epoll: epoll)
                return .closed
            }
        }
        if up == .finished && down == .finished {
            close(abort: false, pipes: &pipes, epoll: epoll)
            return .closed
        }
        return up == .budgetSpent || down == .budgetSpent ? .moreReady : .open
    }

    /// Closes both sockets; `abort` sends a reset (SO_LINGER 0) on each, as the failed side's
    /// peer did.
    func close(abort: Bool, pipes: inout PipePool, epoll: CInt) {
        upstream.release(into: &pipes)
        downstream.release(into: &pipes)
        for socket in [handover.client, handover.server] {
            if abort {
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                _ = setsockopt(socket, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            }
            _ = ei_epoll_forget(epoll, socket)
            Glibc.close(socket)
        }
        handover.ended()
    }

    private static func pendingError(_ socket: CInt) -> CInt {
        var error: CInt = 0
        var size = socklen_t(MemoryLayout<CInt>.size)
        guard getsockopt(socket, SOL_SOCKET, SO_ERROR, &error, &size) == 0 else { return errno }
        return error
    }
}
