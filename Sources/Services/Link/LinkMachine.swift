/// The states of one link from the enclave to the parent half (a stream, the DNS stub's
/// connection, the UDP capture's stream), and what to do at each event: one table for all of
/// them, with no sockets in it, tested alone (Tests/ServicesTests/LinkMachineTests), as
/// EgressMachine is. `ReconnectingLink` runs it on an event loop.
///
/// Two ways to live with a parent that is away:
/// - `.persistent`: connect at once and keep trying with a backoff (first delay doubling to the
///   maximum) until stopped; what is queued meanwhile waits for the connection (the streams).
/// - `.onDemand`: connect when something is sent; when the connection cannot be made what was
///   queued for it is dropped at once (each client answers for it: SERVFAIL, a counted drop),
///   and the next send tries again (the DNS stub, the UDP capture).
///
/// Items wait in a queue bounded by count and bytes while the link connects; past either bound
/// an item is refused (`.drop`) and the caller counts it. An outage is said once (`.outage`
/// with `first: true`), later failures of the same outage quietly, and the recovery once.
public struct LinkMachine<Item> {
    public enum Mode: Equatable, Sendable {
        case persistent(firstRetry: Duration, maximumRetry: Duration)
        case onDemand
    }

    public enum State: Equatable, Sendable {
        /// Not connected, nothing to do (on-demand, between uses).
        case idle
        case connecting
        case connected
        /// Persistent: waiting `delay` before the next attempt.
        case waitingToRetry(delay: Duration)
        case stopped
    }

    public struct Bounds: Equatable, Sendable {
        public var items: Int
        public var bytes: Int

        public init(items: Int, bytes: Int) {
            self.items = items
            self.bytes = bytes
        }
    }

    /// Why a connection is not there: a failed attempt, or an open one that ended.
    public enum Loss: Equatable, Sendable {
        case couldNotConnect(String)
        case closed(String)

        public var reason: String {
            switch self {
            case .couldNotConnect(let reason), .closed(let reason): return reason
            }
        }
    }

    public enum Action {
        /// Open a connection (and report back `connected` or `connectFailed`).
        case connect
        /// Write these now, in order, on the open connection.
        case write([Item])
        /// These will never be sent: the queue was full, the attempt failed (on-demand), or
        /// the link stopped.
        case drop([Item], reason: String)
        /// Call `retryDue` after `delay`.
        case scheduleRetry(Duration)
        /// Cancel the scheduled retry.
        case cancelRetry
        /// Close the open connection.
        case close
        /// The connection is gone or could not be made; `first` is the first failure of
        /// this outage (said at notice), later ones go to debug. `attempt` counts them.
        case outage(Loss, first: Bool, attempt: Int)
        /// Connected again after `failedAttempts` failures.
        case recovered(failedAttempts: Int)
        /// Connected: the client's own greeting or resend (the streams' hello) goes first.
        case connected
    }

    public let mode: Mode
    public let bounds: Bounds
    public private(set) var state: State = .idle
    private var queue: [(item: Item, bytes: Int)] = []
    private var queuedBytes = 0
    private var failures = 0
    private var delay: Duration

    public init(mode: Mode, bounds: Bounds) {
        self.mode = mode
        self.bounds = bounds
        if case .persistent(let first, _) = mode { delay = first } else { delay = .zero }
    }

    public var isConnected: Bool { if case .connected = state { true } else { false } }

    /// Items waiting for the connection.
    public var queuedCount: Int { queue.count }

    /// Whether `bytes` more would be queued now (not connected); a connected link takes
    /// everything (its connection's writability is the client's to watch).
    public func canQueue(bytes: Int) -> Bool {
        switch state {
        case .connected: return true
        case .stopped: return false
        case .idle, .connecting, .waitingToRetry: return queue.count < bounds.items && queuedBytes + bytes <= bounds.bytes
        }
    }

    /// A persistent link connects at once; an on-demand one waits for its first send.
    public mutating func start() -> [Action] {
        guard state == .idle, case .persistent = mode else { return [] }
        state = .connecting
        return [.connect]
    }

    /// The client has `item` (of `bytes`) for the parent.
    public mutating func send(_ item: Item, bytes: Int) -> [Action] {
        switch state {
        case .connected:
            return [.write([item])]
        case .stopped:
            return [.drop([item], reason: "the link is stopped")]
        case .idle, .connecting, .waitingToRetry:
            guard queue.count < bounds.items, queuedBytes + bytes <= bounds.bytes else {
                return [.drop([item], reason: "\(queue.count) items (\(queuedBytes) bytes) already wait for the parent")]
            }
            queue.append((item, bytes))
            queuedBytes += bytes
            guard state == .idle else { return [] }
            state = .connecting
            return [.connect]
        }
    }

    public mutating func connected() -> [Action] {
        guard state == .connecting else { return [.close] } // stopped meanwhile: the late connection goes
        state = .connected
        var actions: [Action] = []
        if failures > 0 { actions.append(.recovered(failedAttempts: failures)) }
        failures = 0
        if case .persistent(let first, _) = mode { delay = first }
        actions.append(.connected)
        if !queue.isEmpty { actions.append(.write(takeQueue())) }
        return actions
    }

    public mutating func connectFailed(_ reason: String) -> [Action] {
        guard state == .connecting else { return [] }
        return lost(.couldNotConnect(reason))
    }

    /// The open connection ended (the parent closed it, a reset, a protocol error).
    public mutating func closed(_ reason: String) -> [Action] {
        guard state == .connected else { return [] }
        return lost(.closed(reason))
    }

    public mutating func retryDue() -> [Action] {
        guard case .waitingToRetry = state else { return [] }
        state = .connecting
        return [.connect]
    }

    public mutating func stop() -> [Action] {
        let before = state
        state = .stopped
        var actions: [Action] = []
        switch before {
        case .connected: actions.append(.close)
        case .waitingToRetry: actions.append(.cancelRetry)
        case .idle, .connecting, .stopped: break
        }
        if !queue.isEmpty { actions.append(.drop(takeQueue(), reason: "the link is stopped")) }
        return actions
    }

    private mutating func lost(_ loss: Loss) -> [Action] {
        failures += 1
        var actions: [Action] = [.outage(loss, first: failures == 1, attempt: failures)]
        switch mode {
        case .persistent(_, let maximum):
            state = .waitingToRetry(delay: delay)
            actions.append(.scheduleRetry(delay))
            delay = min(delay * 2, maximum)
        case .onDemand:
            state = .idle
            if !queue.isEmpty { actions.append(.drop(takeQueue(), reason: loss.reason)) }
        }
        return actions
    }

    private mutating func takeQueue() -> [Item] {
        defer {
            queue = []
            queuedBytes = 0
        }
        return queue.map(\.item)
    }
}
