import Addressing
import BootConfig
import KMS
import NIOConcurrencyHelpers
import NSM

/// With `kms`: what the secrets step and the SDK endpoint share, made once, when the first of
/// them needs it: the enclave's RSA key with the NSM that attests it, and the KMS client (its
/// route, the parent's credentials).
final class KMSAccess: Sendable {
    private let settings: KMSSettings
    private let config: BootConfiguration
    private let emulation: VsockEmulation?
    private let attested = NIOLockedValueBox<AttestedKey?>(nil)

    init(settings: KMSSettings, config: BootConfiguration, emulation: VsockEmulation?) {
        self.settings = settings
        self.config = config
        self.emulation = emulation
    }

    func key() throws(KMSFailure) -> AttestedKey {
        if let made = attested.withLockedValue({ $0 }) { return made }
        let made = try AttestedKey(nsm: NSMDevice())
        attested.withLockedValue { $0 = made }
        return made
    }

    func client() throws(KMSFailure) -> KMSClient {
        // The config was checked with the same resolution (ConfigOptions.load).
        guard case .success(let route)? = KMSRoute.toKMS(config) else { throw .unreachable("no route to \(settings.endpoint)") }
        let parent = Endpoint.vsock(cid: config.parentCID, port: settings.credentialsVsockPort)
        return KMSClient(settings: settings, route: route,
                         credentials: ParentCredentials(endpoint: emulation?.emulate(connectingTo: parent) ?? parent,
                                                        emulatedSourceCID: emulation?.localCID))
    }
}
