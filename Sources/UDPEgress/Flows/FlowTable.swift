import NIOCore

/// The app's open UDP flows, as the enclave half keeps them: a flow is the app's socket (its
/// address and port) and the destination it sends to. Answers are delivered only for a flow
/// in this table, and only to its socket from its destination; a flow idle for `idle` is
/// closed; past `capacity` flows the one idle longest gives way to the new one. A value type,
/// used on one event loop, so it is tested alone.
///
/// The flows are also kept in order of their last datagram (a list threaded through them by
/// number, oldest first), so that finding the one idle longest and the idle ones is as cheap
/// as marking one active: an app that opens a flow per query (a resolver with random source
/// ports) at the bound must not cost a walk over every flow per datagram.
struct FlowTable {
    struct Key: Hashable {
        var app: UDPEndpoint
        var destination: UDPEndpoint
    }

    struct Flow: Equatable {
        var id: UInt32
        var key: Key
        /// The name the policy allowed it by ("" for an address rule): sent to the parent.
        var name: String
        var lastActive: NIODeadline
    }

    /// A flow and its neighbours in the recency list.
    private struct Entry {
        var flow: Flow
        var older: UInt32?
        var newer: UInt32?
    }

    let capacity: Int
    let idle: TimeAmount
    private var entries: [UInt32: Entry] = [:]
    private var byKey: [Key: UInt32] = [:]
    private var oldest: UInt32?
    private var newest: UInt32?
    private var nextID: UInt32 = 1

    init(capacity: Int, idle: TimeAmount) {
        self.capacity = capacity
        self.idle = idle
    }

    var count: Int { entries.count }

    /// The open flow for `key`, marked active.
    mutating func active(_ key: Key, now: NIODeadline) -> Flow? {
        guard let id = byKey[key] else { return nil }
        return touch(id, now: now)
    }

    /// The open flow `id`, marked active (an answer arrived for it).
    mutating func answered(_ id: UInt32, now: NIODeadline) -> Flow? {
        guard entries[id] != nil else { return nil }
        return touch(id, now: now)
    }

    /// Opens a flow for `key` (which has none); returns it and the flow evicted to make room.
    mutating func open(_ key: Key, name: String, now: NIODeadline) -> (flow: Flow, evicted: Flow?) {
        var evicted: Flow?
        if entries.count >= capacity, let oldest {
            evicted = remove(oldest)
        }
        // Numbers are not reused while a flow has them; 0 is never one.
        while nextID == 0 || entries[nextID] != nil { nextID &+= 1 }
        let flow = Flow(id: nextID, key: key, name: name, lastActive: now)
        nextID &+= 1
        entries[flow.id] = Entry(flow: flow)
        byKey[key] = flow.id
        append(flow.id)
        return (flow, evicted)
    }

    @discardableResult
    mutating func remove(_ id: UInt32) -> Flow? {
        guard entries[id] != nil else { return nil }
        unlink(id)
        let flow = entries.removeValue(forKey: id)!.flow
        byKey[flow.key] = nil
        return flow
    }

    /// Removes and returns every flow idle for `idle` or longer (the oldest first: the walk
    /// stops at the first flow that is not).
    mutating func expire(now: NIODeadline) -> [Flow] {
        var stale: [Flow] = []
        while let id = oldest, let flow = entries[id]?.flow, now - flow.lastActive >= idle {
            stale.append(remove(id)!)
        }
        return stale
    }

    /// Removes every flow (the stream to the parent ended: its sockets are gone).
    mutating func removeAll() -> Int {
        defer {
            entries = [:]
            byKey = [:]
            oldest = nil
            newest = nil
        }
        return entries.count
    }

    // MARK: - The recency list

    private mutating func touch(_ id: UInt32, now: NIODeadline) -> Flow {
        entries[id]!.flow.lastActive = now
        if newest != id {
            unlink(id)
            append(id)
        }
        return entries[id]!.flow
    }

    private mutating func append(_ id: UInt32) {
        entries[id]!.older = newest
        entries[id]!.newer = nil
        if let newest { entries[newest]!.newer = id } else { oldest = id }
        newest = id
    }

    private mutating func unlink(_ id: UInt32) {
        let entry = entries[id]!
        if let older = entry.older { entries[older]!.newer = entry.newer } else { oldest = entry.newer }
        if let newer = entry.newer { entries[newer]!.older = entry.older } else { newest = entry.older }
    }
}
