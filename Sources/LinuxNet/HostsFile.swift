
/// The hosts file with enclave-init's managed block: every line that is not ours is kept, our
/// entries live between `# BEGIN enclave-init` and `# END enclave-init` at the top of the file
/// (first match wins in /etc/hosts, so our names win over stale lines further down).
public enum HostsFile {
    public static let beginMarker = ManagedBlockFile.beginMarker
    public static let endMarker = ManagedBlockFile.endMarker

    /// The new file contents for `existing` with `entries` as the managed block. Idempotent:
    /// rendering its own output again gives the same bytes. Keeps the file's line endings
    /// (CRLF stays CRLF) and ends with a newline.
    public static func render(existing: String, entries: [HostsEntries.Entry]) -> String {
        ManagedBlockFile.render(existing: existing) { kept in
            var block: [String] = []
            if !hasLocalhost(kept, address: "127.0.0.1") { block.append("127.0.0.1 localhost") }
            if !hasLocalhost(kept, address: "::1") { block.append("::1 localhost") }
            return block + entries.map(\.description)
        }
    }

    /// Reads `path` (missing: empty), renders the block and writes the result if it differs.
    public static func update(path: String, entries: [HostsEntries.Entry]) throws(NetworkError) -> ManagedBlockFile.WriteOutcome {
        try ManagedBlockFile.update(path: path, configKey: "network.hosts_file") { render(existing: $0, entries: entries) }
    }

    /// True when a non-comment line maps `localhost` to `address`.
    static func hasLocalhost(_ lines: [String], address: String) -> Bool {
        lines.contains { line in
            let fields = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
                .split(whereSeparator: { $0 == " " || $0 == "\t" }) ?? []
            return fields.first.map(String.init) == address && fields.dropFirst().contains("localhost")
        }
    }
}
