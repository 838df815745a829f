/// /etc/resolv.conf with the managed block that sends every lookup to the DNS stub on
/// 127.0.0.1:53, and the image's own `nameserver` lines commented out.
///
/// Why they are commented out rather than left below the stub: resolvers (glibc, Go's, c-ares,
/// musl) try the next server when one answers REFUSED or SERVFAIL, and the stub answers REFUSED
/// for a name the egress policy denies. Nothing in an enclave answers the image's servers (it
/// has no network device; with transparent egress their packets only loop back), so every such
/// lookup waited out each of them: 5 s a try, 10 s a lookup with glibc's defaults. With the
/// stub as the only server, a denied name fails within milliseconds, whatever `options` the
/// image ships. Its `search`, `domain` and `options` lines are kept: they only shape the
/// questions, which the stub answers. The original text stays in each commented line.
public enum ResolvConf {
    /// What an image's nameserver line becomes.
    public static let disabledPrefix = "# disabled by enclave-init: "

    public static func render(existing: String) -> String {
        // The kept lines arrive already rewritten, so they alone say whether any was disabled.
        ManagedBlockFile.render(existing: existing, rewriting: { isNameserverLine($0) ? disabledPrefix + $0 : $0 }) { kept in
            ["nameserver 127.0.0.1"]
                + (kept.contains { $0.hasPrefix(disabledPrefix) }
                    ? ["# The image's nameserver lines below are commented out: nothing in an enclave answers them, and a",
                       "# resolver that tries them after the stub refuses a name would wait seconds for each."] : [])
        }
    }

    public static func update(path: String) throws(NetworkError) -> ManagedBlockFile.WriteOutcome {
        try ManagedBlockFile.update(path: path, configKey: "network.resolv_conf") { render(existing: $0) }
    }

    /// `nameserver ADDRESS` as resolvers read it (Go's and c-ares also allow leading blanks).
    static func isNameserverLine(_ line: String) -> Bool {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        return words.first == "nameserver"
    }
}
