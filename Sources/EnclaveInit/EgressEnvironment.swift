import BootConfig

/// What tells the app's HTTP clients to use the egress proxy, and which hosts go around it:
/// the mapped names and aliases are reached directly through their own proxies.
enum EgressEnvironment {
    static func variables(for config: BootConfiguration) -> [(key: String, value: String)] {
        guard let egress = config.egress else { return [] }
        let proxy = "http://127.0.0.1:\(egress.port)"
        var bypass = ["localhost", "127.0.0.1", "::1"]
        for host in config.hosts {
            for name in host.names + [host.address.description] where !bypass.contains(name) { bypass.append(name) }
        }
        let noProxy = bypass.joined(separator: ",")
        return [("http_proxy", proxy), ("https_proxy", proxy), ("HTTP_PROXY", proxy), ("HTTPS_PROXY", proxy),
                ("no_proxy", noProxy), ("NO_PROXY", noProxy)]
    }
}
