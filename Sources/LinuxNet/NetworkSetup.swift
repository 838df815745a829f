import BootConfig
import Glibc

/// Step 5 of the boot: `lo` up with every address, the hostname, the hosts block — then the
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
        public var hostsOutcome: HostsFile.WriteOutcome
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func apply(_ config: BootConfiguration) throws(Failure) -> Report {
        var wanted = LoopbackPlan.addresses(for: config).map(InterfaceAddress.ipv4)
        if kernelHasIPv6 { wanted.append(.ipv6Loopback) }
        let added = try configureLoopback(wanted)

        if let hostname = config.hostname {
            guard sethostname(hostname, hostname.utf8.count) == 0 else {
                throw Failure(description: "cannot set the hostname to \(hostname): \(String(cString: strerror(errno)))")
            }
        }
        let entries = HostsEntries.entries(for: config)
        let outcome: HostsFile.WriteOutcome
        do {
            outcome = try HostsFile.update(path: config.network.hostsFile, entries: entries)
        } catch {
            throw Failure(description: error.description)
        }
        return Report(addresses: wanted, added: added, hostname: config.hostname,
                      names: entries.reduce(0) { $0 + $1.names.count }, hostsFile: config.network.hostsFile, hostsOutcome: outcome)
    }

    /// Brings lo up, adds every address (one the kernel has already is fine), then reads the
    /// kernel's state back and fails, naming the address, if anything did not take.
    /// Returns how many addresses were new.
    public static func configureLoopback(_ wanted: [InterfaceAddress]) throws(Failure) -> Int {
        do {
            let lo = try Loopback()
            try lo.bringUp()
            var added = 0
            for address in wanted where try lo.add(address) { added += 1 }
            guard try lo.isUp() else { throw Failure(description: "lo is still down after setting IFF_UP") }
            let present = Set(try lo.addresses())
            let missing = wanted.filter { !present.contains($0) }
            guard missing.isEmpty else {
                throw Failure(description: "the kernel does not show \(missing.map(\.description).joined(separator: ", ")) on lo after adding it "
                              + "(lo has: \(present.map(\.description).sorted().joined(separator: ", ")))")
            }
            return added
        } catch let error as NetlinkError {
            throw Failure(description: "netlink: \(error)")
        } catch let error as Failure {
            throw error
        } catch {
            throw Failure(description: "netlink: \(error)")
        }
    }
}
