/// Services started in the order given and stopped in reverse. When one cannot start, those
/// before it are stopped again (in reverse) and a `ServiceStartFailure` says which address
/// failed and why.
public final class RunningServices {
    public private(set) var services: [any Service]

    private init(_ services: [any Service]) { self.services = services }

    public static func start(_ services: [any Service]) throws(ServiceStartFailure) -> RunningServices {
        let running = RunningServices([])
        for service in services {
            do {
                try service.start()
            } catch {
                running.stop()
                throw ServiceStartFailure(listening: service.listening, underlying: error)
            }
            running.services.append(service)
        }
        return running
    }

    /// Every address, in start order.
    public var listening: [Listening] { services.flatMap(\.listening) }

    /// Stops every service in reverse order, except `kept` (the enclave's control port outlives
    /// the others: it tells a waiting `parent stop` the exit code).
    public func stop(except kept: (any Service)? = nil) {
        for service in services.reversed() where service !== kept { service.stop() }
        services = services.filter { $0 === kept }
    }
}

/// A service that could not start: where it was to listen, and the system's reason.
public struct ServiceStartFailure: Error, CustomStringConvertible {
    public var listening: [Listening]
    public var underlying: any Error

    public var description: String {
        if underlying is StandaloneStartError { return "\(underlying)" }
        return "cannot listen on \(listening.map(\.withEmulation).joined(separator: ", ")): \(underlying)"
    }
}

/// An error from `start` whose message already says which address failed (the relays name
/// the route of theirs that could not listen): it is shown as it is.
public protocol StandaloneStartError: Error {}
