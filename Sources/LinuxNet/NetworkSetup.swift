import BootConfig
import Glibc

/// Step 5 of the boot: `lo` up with every address, the hostname, the hosts block, the resolv.conf
/// block when the DNS stub is configured — then the
/// kernel's state read back, so that a silent failure is impossible.
public enum NetworkSetup {
    public struct Report: Sendable, Equatable {
        /// The addresses required on lo (IPv4 from the config, plus ::1/128 with IPv6).
        public var addresses: [InterfaceAddress]
        /// How many of them the kernel did not have before.
        public var added: Int
        public var hostname: String?
        public var names: Int
        public var hostsFile: String
        public var hostsOutcome: ManagedBlockFile.WriteOutcome
        /// With `dns`: the resolv.conf that names the stub, and what was done to it.
        public var resolvConf: (path: String, outcome: ManagedBlockFile.WriteOutcome)?
        /// With `egress.transparent`: the route and the capture rule.
        public var capture: EgressCapture.Report?

        public static func == (a: Report, b: Report) -> Bool {
            a.addresses == b.addresses && a.added == b.added && a.hostname == b.hostname && a.names == b.names
                && a.hostsFile == b.hostsFile && a.hostsOutcome == b.hostsOutcome
                && a.resolvConf?.path == b.resolvConf?.path && a.resolvConf?.outcome == b.resolvConf?.outcome
                && a.capture == b.capture
        }
    }

    public static func apply(_ config: BootConfiguration) throws(NetworkError) -> Report {
        var wanted = LoopbackPlan.addresses(for: config).map(InterfaceAddress.ipv4)
        if kernelHasIPv6 { wanted.append(.ipv6Loopback) }
        let added = try configureLoopback(wanted)

        if let hostname = config.hostname {
            guard sethostname(hostname, hostname.utf8.count) == 0 else {
                throw .hostname(hostname, errno: errno)
            }
        }
        let entries = HostsEntries.entries(for: config)
        let outcome = try HostsFile.update(path: config.network.hostsFile, entries: entries)
        var resolvConf: (String, ManagedBlockFile.WriteOutcome)?
        if config.dns != nil {
            resolvConf = (config.network.resolvConf, try ResolvConf.update(path: config.network.resolvConf))
        }
        var capture: EgressCapture.Report?
        if let egress = config.egress, egress.transparent {
            capture = try EgressCapture.install(redirectingTo: egress.port, udp: egress.udp != nil)
        }
        return Report(addresses: wanted, added: added, hostname: config.hostname,
                      names: entries.reduce(0) { $0 + $1.names.count }, hostsFile: config.network.hostsFile, hostsOutcome: outcome,
                      resolvConf: resolvConf, capture: capture)
    }

    /// Brings lo up, adds every address the kernel does not have yet, then reads the kernel's
    /// state back and fails, naming the address, if anything did not take. Nothing is asked of
    /// the kernel that is already so: a container's init without CAP_NET_ADMIN (`docker run`
    /// without --cap-add NET_ADMIN) then boots whenever the boot JSON adds no alias.
    /// Returns how many addresses were new.
    public static func configureLoopback(_ wanted: [InterfaceAddress]) throws(NetworkError) -> Int {
        let added: Int, up: Bool, present: [InterfaceAddress]
        do throws(NetlinkError) {
            let lo = try NetworkInterface.loopback()
            try lo.bringUp()
            let before = try lo.addresses()
            var count = 0
            for address in wanted where !before.contains(address) {
                if try lo.add(address) { count += 1 }
            }
            added = count
            up = try lo.isUp()
            present = try lo.addresses()
        } catch {
            throw .netlink(error)
        }
        guard up else { throw .loopbackStillDown }
        let missing = wanted.filter { !present.contains($0) }
        guard missing.isEmpty else { throw .addressesMissing(missing: missing, present: present) }
        return added
    }
}
