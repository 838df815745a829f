import NIOCore

/// The app's open UDP flows, as the enclave half keeps them: a flow is the app's socket (its
/// address and port) and the destination it sends to. Answers are delivered only for a flow
/// in this table, and only to its socket from its destination; a flow idle for `idle` is
/// closed; past `capacity` flows the one idle longest gives way to the new one. A value type,
/// used on one event loop, so it is tested alone.
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

    let capacity: Int
    let idle: TimeAmount
    private(set) var byID: [UInt32: Flow] = [:]
    private var byKey: [Key: UInt32] = [:]
    private var nextID: UInt32 = 1

    init(capacity: Int, idle: TimeAmount) {
        self.capacity = capacity
        self.idle = idle
    }

    var count: Int { byID.count }

    /// The open flow for `key`, marked active.
    mutating func active(_ key: Key, now: NIODeadline) -> Flow? {
        guard let id = byKey[key] else { return nil }
        byID[id]?.lastActive = now
        return byID[id]
    }

    /// The open flow `id`, marked active (an answer arrived for it).
    mutating func answered(_ id: UInt32, now: NIODeadline) -> Flow? {
        guard byID[id] != nil else { return nil }
        byID[id]!.lastActive = now
        return byID[id]
    }

    /// Opens a flow for `key` (which has none); returns it and the flow evicted to make room.
    mutating func open(_ key: Key, name: String, now: NIODeadline) -> (flow: Flow, evicted: Flow?) {
        var evicted: Flow?
        if byID.count >= capacity, let oldest = byID.values.min(by: { $0.lastActive < $1.lastActive }) {
            evicted = remove(oldest.id)
        }
        // Numbers are not reused while a flow has them; 0 is never one.
        while nextID == 0 || byID[nextID] != nil { nextID &+= 1 }
        let flow = Flow(id: nextID, key: key, name: name, lastActive: now)
        nextID &+= 1
        byID[flow.id] = flow
        byKey[key] = flow.id
        return (flow, evicted)
    }

    @discardableResult
    mutating func remove(_ id: UInt32) -> Flow? {
        guard let flow = byID.removeValue(forKey: id) else { return nil }
        byKey[flow.key] = nil
        return flow
    }

    /// Removes and returns every flow idle for `idle` or longer.
    mutating func expire(now: NIODeadline) -> [Flow] {
        let stale = byID.values.filter { now - $0.lastActive >= idle }
        for flow in stale { remove(flow.id) }
        return stale
    }

    /// Removes every flow (the stream to the parent ended: its sockets are gone).
    mutating func removeAll() -> Int {
        defer { byID = [:]; byKey = [:] }
        return byID.count
    }
}
