import NIOConcurrencyHelpers
import NIOCore

/// The connections a listener accepted, closed with it when its service stops. The event loops
/// are shared and outlive every service, so shutting a group down is no longer what ends them.
public final class AcceptedChannels: Sendable {
    private let open = NIOLockedValueBox<[ObjectIdentifier: Channel]>([:])

    public init() {}

    /// Called from the child channel's initializer; it is forgotten when it closes.
    public func track(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        open.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { [open] _ in open.withLockedValue { $0[id] = nil } }
    }

    public var count: Int { open.withLockedValue { $0.count } }

    /// Closes every one still open and waits for each (call after the listener is closed).
    /// They are forgotten here at once: their close callbacks may run after `close` returns.
    public func closeAll() {
        let channels = open.withLockedValue { open in
            defer { open.removeAll() }
            return Array(open.values)
        }
        for channel in channels { try? channel.close().wait() }
    }
}
