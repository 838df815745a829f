import Addressing
import CSupport
import Glibc

/// Transparent egress's share of the network step: a default route via lo, so that a
/// connection to any address has somewhere to go, and the legacy xtables rule that redirects
/// every TCP connection to an address outside 127.0.0.0/8 to the egress listener, which reads
/// the original destination (SO_ORIGINAL_DST). Both set up by enclave-init itself — no `ip`
/// or `iptables` in the image — and both idempotent. IPv6 is not captured: with no IPv6 route
/// a connect to a global IPv6 address fails at once (ENETUNREACH), never hangs.
public enum EgressCapture {
    public struct Report: Sendable, Equatable {
        public var port: UInt16
        public var routeAdded: Bool
        public var ruleAdded: Bool
    }

    public static func install(redirectingTo port: UInt16) throws(NetworkError) -> Report {
        let routeAdded: Bool
        do throws(NetlinkError) {
            routeAdded = try Loopback().addDefaultRoute(source: .loopback)
        } catch {
            throw .netlink(error)
        }
        var present: Int32 = 0
        guard ei_install_capture_rule(port, &present) == 0 else { throw .captureRule(port: port, errno: errno) }
        return Report(port: port, routeAdded: routeAdded, ruleAdded: present == 0)
    }

    /// The console's words for what was done.
    public static func describe(_ report: Report) -> String {
        "capture: route default dev lo (\(report.routeAdded ? "added" : "present")), "
            + "nat OUTPUT tcp ! 127.0.0.0/8 -> 127.0.0.1:\(report.port) (\(report.ruleAdded ? "added" : "present")); "
            + "IPv6 is not captured: connections to IPv6 addresses fail at once (no route)"
    }
}
