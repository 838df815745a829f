import Addressing
import BootConfig

/// The lines enclave-init owns in /etc/hosts: one per address, with all of its names, in the
/// order the config gives them. (The file editing itself — managed block, atomic replace — is
/// the network step's job.)
public enum HostsEntries {
    public struct Entry: Sendable, Equatable, CustomStringConvertible {
        public var address: String
        public var names: [String]

        public init(address: String, names: [String]) {
            self.address = address
            self.names = names
        }

        public var description: String { ([address] + names).joined(separator: " ") }
    }

    /// Debian's convention for the machine's own name when no other address claims it.
    public static let hostnameAddress = "127.0.1.1"

    public static func entries(for config: BootConfiguration) -> [Entry] {
        var entries: [Entry] = []
        for host in config.hosts where !host.names.isEmpty {
            let address = host.address.description
            if let index = entries.firstIndex(where: { $0.address == address }) {
                entries[index].names += host.names.filter { !entries[index].names.contains($0) }
            } else {
                entries.append(Entry(address: address, names: host.names))
            }
        }
        if let hostname = config.hostname.map({ HostGrammar.canonical($0) }), !entries.contains(where: { $0.names.contains(hostname) }) {
            entries.append(Entry(address: hostnameAddress, names: [hostname]))
        }
        return entries
    }
}
