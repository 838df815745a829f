import Services
import Testing

/// The link to the parent half as a table of transitions, without sockets: each row is a
/// state, an event, the state after it and the actions asked for.
@Suite struct LinkMachineTests {
    typealias Machine = LinkMachine<String>

    /// Actions spelled for comparison ("connect", "write a,b", "drop x: reason", …).
    static func spell(_ actions: [Machine.Action]) -> [String] {
        actions.map { action in
            switch action {
            case .connect: return "connect"
            case .write(let items): return "write \(items.joined(separator: ","))"
            case .drop(let items, let reason): return "drop \(items.joined(separator: ",")): \(reason)"
            case .scheduleRetry(let delay): return "retry in \(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000) ms"
            case .cancelRetry: return "cancel retry"
            case .close: return "close"
            case .outage(.couldNotConnect(let reason), let first, let attempt): return "outage\(first ? " (first)" : "") #\(attempt): could not connect: \(reason)"
            case .outage(.closed(let reason), let first, let attempt): return "outage\(first ? " (first)" : "") #\(attempt): closed: \(reason)"
            case .recovered(let failed): return "recovered after \(failed)"
            case .connected: return "connected"
            }
        }
    }

    static let persistent = Machine.Mode.persistent(firstRetry: .milliseconds(100), maximumRetry: .milliseconds(400))
    static let bounds = Machine.Bounds(items: 2, bytes: 100)

    @Test func aPersistentLinkConnectsAtOnceAndBacksOffToItsMaximum() {
        var link = Machine(mode: Self.persistent, bounds: Self.bounds)
        #expect(Self.spell(link.start()) == ["connect"])
        #expect(link.state == .connecting)
        #expect(Self.spell(link.connectFailed("refused")) == ["outage (first) #1: could not connect: refused", "retry in 100 ms"])
        #expect(link.state == .waitingToRetry(delay: .milliseconds(100)))
        #expect(Self.spell(link.retryDue()) == ["connect"])
        #expect(Self.spell(link.connectFailed("refused")) == ["outage #2: could not connect: refused", "retry in 200 ms"])
        _ = link.retryDue()
        #expect(Self.spell(link.connectFailed("refused")) == ["outage #3: could not connect: refused", "retry in 400 ms"])
        _ = link.retryDue()
        #expect(Self.spell(link.connectFailed("refused")) == ["outage #4: could not connect: refused", "retry in 400 ms"], "capped")
        _ = link.retryDue()
        #expect(Self.spell(link.connected()) == ["recovered after 4", "connected"])
        #expect(link.state == .connected)
        // A new outage starts from the first delay and is said again.
        #expect(Self.spell(link.closed("reset")) == ["outage (first) #1: closed: reset", "retry in 100 ms"])
    }

    @Test func whatWaitsWhileConnectingGoesOutInOrderOnceConnected() {
        var link = Machine(mode: Self.persistent, bounds: Self.bounds)
        _ = link.start()
        #expect(Self.spell(link.send("a", bytes: 10)).isEmpty)
        #expect(Self.spell(link.send("b", bytes: 10)).isEmpty)
        #expect(link.queuedCount == 2)
        #expect(Self.spell(link.connected()) == ["connected", "write a,b"])
        #expect(link.queuedCount == 0)
        #expect(Self.spell(link.send("c", bytes: 10)) == ["write c"])
    }

    @Test func theQueueIsBoundedByCountAndBytesAndADropIsSaid() {
        var link = Machine(mode: Self.persistent, bounds: Self.bounds)
        _ = link.start()
        #expect(Self.spell(link.send("big", bytes: 101)) == ["drop big: 0 items (0 bytes) already wait for the parent"])
        _ = link.send("a", bytes: 60)
        #expect(!link.canQueue(bytes: 41) && link.canQueue(bytes: 40))
        #expect(Self.spell(link.send("b", bytes: 41)) == ["drop b: 1 items (60 bytes) already wait for the parent"])
        _ = link.send("c", bytes: 1)
        #expect(Self.spell(link.send("d", bytes: 1)) == ["drop d: 2 items (61 bytes) already wait for the parent"])
        // A persistent link keeps what waits across a failed attempt.
        _ = link.connectFailed("refused")
        #expect(link.queuedCount == 2)
    }

    @Test func anOnDemandLinkConnectsAtTheFirstSendAndDropsWhatWaitedWhenItCannot() {
        var link = Machine(mode: .onDemand, bounds: Self.bounds)
        #expect(Self.spell(link.start()).isEmpty)
        #expect(link.state == .idle)
        #expect(Self.spell(link.send("q1", bytes: 10)) == ["connect"])
        #expect(Self.spell(link.send("q2", bytes: 10)).isEmpty, "one attempt at a time")
        #expect(Self.spell(link.connectFailed("no such socket")) == ["outage (first) #1: could not connect: no such socket", "drop q1,q2: no such socket"])
        #expect(link.state == .idle)
        #expect(Self.spell(link.send("q3", bytes: 10)) == ["connect"])
        #expect(Self.spell(link.connectFailed("no such socket")) == ["outage #2: could not connect: no such socket", "drop q3: no such socket"])
        _ = link.send("q4", bytes: 10)
        #expect(Self.spell(link.connected()) == ["recovered after 2", "connected", "write q4"])
        #expect(Self.spell(link.closed("the parent closed it")) == ["outage (first) #1: closed: the parent closed it"])
        #expect(link.state == .idle)
    }

    @Test func stopClosesCancelsAndDropsAndALateConnectionIsClosed() {
        var connected = Machine(mode: Self.persistent, bounds: Self.bounds)
        _ = connected.start()
        _ = connected.connected()
        #expect(Self.spell(connected.stop()) == ["close"])
        #expect(Self.spell(connected.send("x", bytes: 1)) == ["drop x: the link is stopped"])
        #expect(Self.spell(connected.closed("closed by us")).isEmpty, "its own close is no outage")

        var waiting = Machine(mode: Self.persistent, bounds: Self.bounds)
        _ = waiting.start()
        _ = waiting.send("a", bytes: 1)
        _ = waiting.connectFailed("refused")
        #expect(Self.spell(waiting.stop()) == ["cancel retry", "drop a: the link is stopped"])
        #expect(Self.spell(waiting.retryDue()).isEmpty)

        var connecting = Machine(mode: Self.persistent, bounds: Self.bounds)
        _ = connecting.start()
        _ = connecting.stop()
        #expect(Self.spell(connecting.connected()) == ["close"], "a connection that completes after the stop is closed")
        #expect(Self.spell(connecting.connectFailed("late")).isEmpty)
    }

    @Test func eventsThatDoNotFitTheStateChangeNothing() {
        var link = Machine(mode: .onDemand, bounds: Self.bounds)
        #expect(Self.spell(link.closed("stray")).isEmpty)
        #expect(Self.spell(link.connectFailed("stray")).isEmpty)
        #expect(Self.spell(link.retryDue()).isEmpty)
        #expect(link.state == .idle)
    }
}
