import BootConfig
import Policy

/// How enclave-init reaches KMS from inside the enclave: the way the app would (Policy's
/// OutboundRoute). TLS always verifies the endpoint's name, whichever route carries it.
public typealias KMSRoute = OutboundRoute

extension OutboundRoute {
    /// The route to kms.endpoint; nil without `kms`. A config that loaded has one (the
    /// validator asked the same question).
    public static func toKMS(_ config: BootConfiguration) -> Result<OutboundRoute, Unreachable>? {
        config.kms.map { config.outboundRoute(to: $0.endpoint) }
    }
}
