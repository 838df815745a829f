import Addressing
import BootConfig
import CSupport
import Glibc

/// egress.udp's TUN device: the default route of the enclave, so that every UDP datagram the
/// app sends outside 127.0.0.0/8 is read here as an IP packet with its real destination (a
/// redirect cannot tell a UDP socket where the datagram was going). TCP never reaches it: the
/// capture rule redirects TCP to lo before the packet leaves. The device lives as long as this
/// value's descriptor; it is not persistent, so a crashed enclave-init leaves no device and no
/// route behind.
public final class TunDevice: Sendable {
    public static let defaultName = UDPEgress.deviceName
    /// The app's datagrams get this source address from the route: 192.0.0.8, the IPv4 dummy
    /// address (RFC 7600) meant for a host with no address of its own on a network, so it
    /// shadows no destination the app could want.
    public static let address = IPv4Address(0xC000_0008)
    /// The largest IPv4 packet: a 65,507-byte datagram leaves the app unfragmented.
    public static let mtu = 65_535

    public let name: String
    /// Non-blocking; one read is one packet, one write injects one.
    public let descriptor: Int32

    private init(name: String, descriptor: Int32) {
        self.name = name
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    /// Creates the device, gives it the address and the MTU, brings it up.
    public static func create(name: String = defaultName) throws(NetworkError) -> TunDevice {
        var descriptor: Int32 = -1
        guard ei_tun_create(name, &descriptor) == 0 else { throw .tunDevice(name: name, errno: errno) }
        let device = TunDevice(name: name, descriptor: descriptor)
        do throws(NetlinkError) {
            let interface = try NetworkInterface(named: name)
            try interface.bringUp(mtu: mtu)
            try interface.add(.ipv4(IPv4Interface(address: address, prefixLength: 32)))
        } catch {
            throw .netlink(error)
        }
        return device
    }
}
