import NIOConcurrencyHelpers

/// max_connections: at most `limit` connections are relayed at once; the others wait, accepted
/// but untouched, in arrival order, and start as soon as a slot frees. (Pausing the accept loop
/// alone is not enough: one readiness event can accept several connections at once.)
final class ConnectionSlots: Sendable {
    private struct State {
        var busy: Set<ObjectIdentifier> = []
        var waiting: [(id: ObjectIdentifier, start: @Sendable () -> Void)] = []
    }

    private let limit: Int
    private let state = NIOLockedValueBox(State())

    /// 0: no limit.
    init(limit: Int) {
        self.limit = limit
    }

    /// Runs `start` now if a slot is free, else when one frees. Returns true when it has to wait.
    @discardableResult
    func acquire(_ id: ObjectIdentifier, _ start: @escaping @Sendable () -> Void) -> Bool {
        let runNow = state.withLockedValue { state -> Bool in
            guard limit > 0, state.busy.count >= limit else {
                state.busy.insert(id)
                return true
            }
            state.waiting.append((id, start))
            return false
        }
        if runNow { start() }
        return !runNow
    }

    /// The connection `id` is gone: if it held a slot, the longest-waiting connection gets it;
    /// if it was still waiting, it just leaves the queue.
    func release(_ id: ObjectIdentifier) {
        let next = state.withLockedValue { state -> (@Sendable () -> Void)? in
            if let index = state.waiting.firstIndex(where: { $0.id == id }) {
                state.waiting.remove(at: index)
                return nil
            }
            guard state.busy.remove(id) != nil, !state.waiting.isEmpty else { return nil }
            let next = state.waiting.removeFirst()
            state.busy.insert(next.id)
            return next.start
        }
        next?()
    }

    /// True while every slot is taken (the listener then stops accepting).
    var isFull: Bool { state.withLockedValue { limit > 0 && $0.busy.count >= limit } }
}
