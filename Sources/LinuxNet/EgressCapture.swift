import Addressing
import CSupport
import Glibc

/// Transparent egress's share of the network step: a default route, so that a connection to
/// any address has somewhere to go, and the legacy xtables rule that redirects every TCP
/// connection to an address outside 127.0.0.0/8 to the egress listener, which reads the
/// original destination (SO_ORIGINAL_DST). The route is `default dev lo`; with egress.udp it is
/// `default dev ei-udp` instead, the TUN device the app's UDP datagrams are read from (TCP is
/// redirected to lo by the rule before it would reach the device). All of it set up by
/// enclave-init itself — no `ip` or `iptables` in the image — and idempotent. IPv6 is not
/// captured: with no IPv6 route a connect to a global IPv6 address fails at once
/// (ENETUNREACH), never hangs.
public enum EgressCapture {
    public struct Report: Sendable, Equatable {
        public var port: UInt16
        public var routeAdded: Bool
        public var ruleAdded: Bool
        /// With egress.udp: the device the route goes through; the UDP relay reads from it.
        public var udpDevice: TunDevice?

        public static func == (a: Report, b: Report) -> Bool {
            a.port == b.port && a.routeAdded == b.routeAdded && a.ruleAdded == b.ruleAdded && a.udpDevice === b.udpDevice
        }
    }

    public static func install(redirectingTo port: UInt16, udp: Bool = false) throws(NetworkError) -> Report {
        let device = udp ? try TunDevice.create() : nil
        let routeAdded: Bool
        do throws(NetlinkError) {
            if let device {
                routeAdded = try NetworkInterface(named: device.name).addDefaultRoute(source: TunDevice.address, replacing: true)
            } else {
                routeAdded = try NetworkInterface.loopback().addDefaultRoute(source: .loopback)
            }
        } catch {
            throw .netlink(error)
        }
        var present: Int32 = 0
        guard ei_install_capture_rule(port, &present) == 0 else { throw .captureRule(port: port, errno: errno) }
        return Report(port: port, routeAdded: routeAdded, ruleAdded: present == 0, udpDevice: device)
    }

    /// The console's words for what was done.
    public static func describe(_ report: Report) -> String {
        let route = report.udpDevice.map { "route default dev \($0.name) src \(TunDevice.address) (TUN, mtu \(TunDevice.mtu))" } ?? "route default dev lo"
        return "capture: \(route) (\(report.routeAdded ? "added" : "present")), "
            + "nat OUTPUT tcp ! 127.0.0.0/8 -> 127.0.0.1:\(report.port) (\(report.ruleAdded ? "added" : "present"))"
            + (report.udpDevice == nil ? "" : ", udp ! 127.0.0.0/8 -> \(report.udpDevice!.name)")
            + "; IPv6 is not captured: connections to IPv6 addresses fail at once (no route)"
    }
}
