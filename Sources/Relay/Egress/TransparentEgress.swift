import Addressing
import CSupport
import Glibc
import NIOCore
import Policy

/// The egress listener with `egress.transparent`: a connection the capture rule redirected
/// here has an original destination other than this listener (SO_ORIGINAL_DST) and is served
/// as a captured connection; anything else is the app speaking to the HTTP proxy.
struct TransparentEgress: ConnectionSetup {
    let policy: EgressPolicy
    let parent: Endpoint
    let names: EgressRole.NameLookup

    func setUp(_ accepted: Channel, context: SetupContext) {
        let exchange = EgressExchange(accepted: accepted, role: .transparent(policy: policy, parent: parent, names: names), context: context)
        guard let original = Self.originalDestination(of: accepted), !original.address.isLoopback else {
            return exchange.start() // not redirected: an HTTP proxy request
        }
        let connection = CapturedConnection(address: original.address, port: original.port, names: names(original.address))
        exchange.startCaptured(connection)
    }

    /// Where the app meant to connect, when NAT redirected the connection; nil otherwise.
    static func originalDestination(of channel: Channel) -> (address: IPv4Address, port: UInt16)? {
        let found = try? channel.pipeline.syncOperations.withUnsafeTransportIfAvailable(of: NIOBSDSocket.Handle.self) { socket -> (UInt32, UInt16)? in
            var address: UInt32 = 0
            var port: UInt16 = 0
            return ei_original_destination(socket, &address, &port) == 0 ? (address, port) : nil
        }
        guard let found, let (address, port) = found else { return nil }
        return (IPv4Address(address), port)
    }
}
