import Addressing

/// A long-running piece of either half that listens (the relays, the DNS stub and forwarder,
/// the attestation endpoint, the control port, the clock server, the stream receivers): it
/// starts, it stops, and it says what it listens on. Boot step 6 and `parent serve` each hold a
/// list of them and start it with `RunningServices`; adding a service is one type that conforms
/// and one line in the list of the half it runs in.
public protocol Service: AnyObject {
    /// What it listens on, one entry per address: the step line, `parent serve`'s log lines and
    /// the `proxies_listening` count are made from these.
    var listening: [Listening] { get }
    /// Binds; throws, having released whatever it bound, when it cannot.
    func start() throws
    /// Closes its listeners and lets open connections end as the service's own rules say;
    /// logs its counters. Called once, after a successful `start`.
    func stop()
}

/// One address a service listens on, as the logs say it: "dns stub 127.0.0.1:53 (udp, tcp)".
public struct Listening: Sendable, CustomStringConvertible {
    public var description: String
    /// Where the vsock emulation really binds it, when that differs ("unix:/tmp/vs/3-8000").
    public var emulated: ListenAddress?

    public init(_ description: String, emulated: ListenAddress? = nil) {
        self.description = description
        self.emulated = emulated
    }

    /// `address` as the emulation binds it, kept only when the emulation changes it.
    public init(_ description: String, address: ListenAddress, emulation: VsockEmulation?) {
        let bound = address.emulated(by: emulation)
        self.init(description, emulated: bound == address ? nil : bound)
    }

    /// The description and, when emulated, " (emulated: unix:…)".
    public var withEmulation: String { description + (emulated.map { " (emulated: \($0))" } ?? "") }
}
