/// /etc/resolv.conf with the managed block that sends every lookup to the DNS stub on
/// 127.0.0.1:53. The image's own nameserver lines stay below it (resolvers try servers in
/// order; inside an enclave those are unreachable anyway and fail fast).
public enum ResolvConf {
    public static func render(existing: String) -> String {
        ManagedBlockFile.render(existing: existing) { _ in ["nameserver 127.0.0.1"] }
    }

    public static func update(path: String) throws(NetworkError) -> ManagedBlockFile.WriteOutcome {
        try ManagedBlockFile.update(path: path, configKey: "network.resolv_conf") { render(existing: $0) }
    }
}
