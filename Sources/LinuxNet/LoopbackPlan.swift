import Addressing
import BootConfig

/// The addresses the network step puts on `lo`: network.loopback first, then every hosts[]
/// address as a /32 (unless a loopback entry already covers it exactly), without repeats.
public enum LoopbackPlan {
    public static func addresses(for config: BootConfiguration) -> [IPv4Interface] {
        var result: [IPv4Interface] = []
        for interface in config.network.loopback where !result.contains(where: { $0.address == interface.address }) {
            result.append(interface)
        }
        for host in config.hosts where !result.contains(where: { $0.address == host.address }) {
            result.append(IPv4Interface(address: host.address, prefixLength: 32))
        }
        return result
    }
}
