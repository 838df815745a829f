import CSupport
import Glibc
import NIOConcurrencyHelpers

/// One thread that relays its share of the connections with splice(2): an epoll set of their
/// sockets (edge-triggered), an eventfd to hear of new connections and of the stop.
final class SpliceLoop: @unchecked Sendable {
    /// Read per direction per turn before the other connections get theirs.
    static let budget = 2 << 20
    private static let wakeToken: UInt64 = 0

    private let epoll: CInt
    private let wake: CInt
    private let inbox = NIOLockedValueBox((arriving: [SpliceHandover](), stopping: false))
    private var thread: pthread_t?

    // Only the loop's thread touches these.
    private var connections: [UInt64: SplicedConnection] = [:]
    private var nextToken: UInt64 = 1
    private var moreReady: [UInt64] = []
    private var pipes: PipePool
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    init(pipeLimit: Int) throws(RelayError) {
        pipes = PipePool(limit: pipeLimit)
        epoll = ei_epoll_create()
        wake = ei_eventfd()
        guard epoll >= 0, wake >= 0, ei_epoll_watch_readable(epoll, wake, Self.wakeToken) == 0 else {
            let code = errno
            if epoll >= 0 { Glibc.close(epoll) }
            if wake >= 0 { Glibc.close(wake) }
            scratch.deallocate()
            throw .spliceEngine(operation: "set up a splice loop (epoll, eventfd)", errno: code)
        }
    }

    func start() throws(RelayError) {
        var handle = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let result = pthread_create(&handle, nil, { context in
            let loop = Unmanaged<SpliceLoop>.fromOpaque(context!).takeRetainedValue()
            loop.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<SpliceLoop>.fromOpaque(context).release()
            throw .spliceEngine(operation: "start a splice thread", errno: result)
        }
        thread = handle
    }

    /// Takes over a connection; after `stop`, closes it at once.
    func relay(_ handover: SpliceHandover) {
        let accepted = inbox.withLockedValue { inbox in
            guard !inbox.stopping else { return false }
            inbox.arriving.append(handover)
            return true
        }
        if accepted {
            ei_eventfd_signal(wake)
        } else {
            Glibc.close(handover.client)
            Glibc.close(handover.server)
            handover.ended()
        }
    }

    /// Closes every connection it still relays (EOF to both peers) and ends the thread.
    func stop() {
        inbox.withLockedValue { $0.stopping = true }
        ei_eventfd_signal(wake)
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    private func run() {
        var tokens = [UInt64](repeating: 0, count: 64)
        var flags = [UInt32](repeating: 0, count: 64)
        while true {
            let count = ei_epoll_wait(epoll, &tokens, &flags, 64, moreReady.isEmpty ? -1 : 0)
            for index in 0..<max(0, Int(count)) {
                if tokens[index] == Self.wakeToken {
                    ei_eventfd_drain(wake)
                    if takeArrivals() { return shutDown() }
                } else {
                    service(tokens[index], hangUp: flags[index] != 0)
                }
            }
            let again = moreReady
            moreReady.removeAll(keepingCapacity: true)
            for token in again { service(token, hangUp: false) }
        }
    }

    /// Registers new connections and moves what they already have; true once stopping.
    private func takeArrivals() -> Bool {
        let (arriving, stopping) = inbox.withLockedValue { inbox in
            defer { inbox.arriving.removeAll() }
            return (inbox.arriving, inbox.stopping)
        }
        for handover in arriving {
            let token = nextToken
            nextToken += 1
            let connection = SplicedConnection(handover)
            connections[token] = connection
            guard ei_epoll_watch(epoll, handover.client, token) == 0, ei_epoll_watch(epoll, handover.server, token) == 0 else {
                connections[token] = nil
                connection.close(abort: true, pipes: &pipes, epoll: epoll)
                pipes.trim(keeping: connections.count)
                continue
            }
            service(token, hangUp: false)
        }
        return stopping
    }

    private func service(_ token: UInt64, hangUp: Bool) {
        guard let connection = connections[token] else { return } // closed earlier in this batch
        switch connection.service(hangUp: hangUp, budget: Self.budget, pipes: &pipes, scratch: scratch, epoll: epoll) {
        case .open: break
        case .moreReady: moreReady.append(token)
        case .closed:
            connections[token] = nil
            pipes.trim(keeping: connections.count)
        }
    }

    private func shutDown() {
        for connection in connections.values { connection.close(abort: false, pipes: &pipes, epoll: epoll) }
        connections.removeAll()
        pipes.closeAll()
        Glibc.close(epoll)
        Glibc.close(wake)
        scratch.deallocate()
    }
}
