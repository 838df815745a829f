import BootConfig
import COpenSSL
import KMS
import NIOConcurrencyHelpers

/// The server side's shared TLS settings: TLS 1.2 and 1.3 with OpenSSL's default suites, one
/// identity (or none: every handshake but an ACME challenge's then fails), and ALPN chosen by
/// the server in this order: the binding's protocol, ACME's, then the app's. Made once per
/// identity; each connection gets its own `TLSServerHandler` from the context current then.
public final class TLSServerContext: @unchecked Sendable {
    let handle: OpaquePointer
    public let identity: EphemeralIdentity?
    /// Held for the ALPN callback, which gets it as an unretained pointer.
    private let selection: ProtocolSelection

    public init(identity: EphemeralIdentity?, appProtocols: [String] = [], attestation: Bool = false,
                challenges: ChallengeCertificates? = nil) throws(EphemeralIdentity.Failure) {
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw EphemeralIdentity.Failure(reason: "cannot make a TLS context: \(OpenSSL.drainErrors())")
        }
        handle = context
        self.identity = identity
        var preference: [String] = []
        if attestation { preference.append(Self.attestationProtocol) }
        if challenges != nil { preference.append(Self.acmeProtocol) }
        selection = ProtocolSelection(preference: preference + appProtocols, challenges: challenges)
        _ = ei_ssl_ctx_set_min_proto_version(context, TLS1_2_VERSION)
        if let identity {
            guard SSL_CTX_use_certificate(context, identity.certificate) == 1, SSL_CTX_use_PrivateKey(context, identity.key.handle) == 1,
                  SSL_CTX_check_private_key(context) == 1, identity.intermediates.allSatisfy({ ei_ssl_ctx_add_chain_certificate(context, $0) == 1 }) else {
                throw EphemeralIdentity.Failure(reason: "the TLS context does not take the identity: \(OpenSSL.drainErrors())")
            }
        }
        if !selection.preference.isEmpty {
            SSL_CTX_set_alpn_select_cb(context, { ssl, out, outLength, offered, offeredLength, argument in
                guard let argument, let offered, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
                let selection = Unmanaged<ProtocolSelection>.fromOpaque(argument).takeUnretainedValue()
                return selection.select(ssl: ssl, offered: UnsafeBufferPointer(start: offered, count: Int(offeredLength)), out: out, outLength: outLength)
            }, Unmanaged.passUnretained(selection).toOpaque())
        }
    }

    deinit { SSL_CTX_free(handle) }

    public static let attestationProtocol = IngressTLS.attestationProtocol
    public static let acmeProtocol = IngressTLS.acmeProtocol
}

/// The ALPN choice: the first protocol of the server's preference that the client offered.
/// None in common: no ALPN (the client speaks its default), as a server without ALPN would.
/// `acme-tls/1` also swaps the connection's certificate for the challenge's (RFC 8737): the
/// certificate is chosen after ALPN in OpenSSL's handshake, so setting it here is in time.
final class ProtocolSelection: @unchecked Sendable {
    let preference: [String]
    let challenges: ChallengeCertificates?

    init(preference: [String], challenges: ChallengeCertificates?) {
        self.preference = preference
        self.challenges = challenges
    }

    func select(ssl: OpaquePointer?, offered: UnsafeBufferPointer<UInt8>, out: UnsafeMutablePointer<UnsafePointer<UInt8>?>,
                outLength: UnsafeMutablePointer<UInt8>) -> Int32 {
        // The client's list: length-prefixed names (RFC 7301).
        var names: [(name: String, offset: Int, length: Int)] = []
        var index = 0
        while index < offered.count {
            let length = Int(offered[index])
            guard length > 0, index + 1 + length <= offered.count else { return SSL_TLSEXT_ERR_ALERT_FATAL }
            names.append((String(decoding: offered[(index + 1)..<(index + 1 + length)], as: UTF8.self), index + 1, length))
            index += 1 + length
        }
        for wanted in preference {
            guard let match = names.first(where: { $0.name == wanted }) else { continue }
            if wanted == TLSServerContext.acmeProtocol {
                // RFC 8737: the challenge certificate for the SNI name, or no handshake at all.
                guard let ssl, let name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map({ String(cString: $0) }),
                      let challenge = challenges?.certificate(for: name),
                      SSL_use_certificate(ssl, challenge.certificate) == 1, SSL_use_PrivateKey(ssl, challenge.key.handle) == 1 else {
                    return SSL_TLSEXT_ERR_ALERT_FATAL
                }
            }
            out.pointee = offered.baseAddress! + match.offset
            outLength.pointee = UInt8(match.length)
            return SSL_TLSEXT_ERR_OK
        }
        return SSL_TLSEXT_ERR_NOACK
    }
}

/// The TLS-ALPN-01 challenge certificates being asked for, by DNS name (RFC 8737): each is
/// self-signed for that one name, with the acmeIdentifier extension carrying the SHA-256 of
/// the key authorization. Added while the CA validates, removed after.
public final class ChallengeCertificates: Sendable {
    private let byName = NIOLockedValueBox<[String: EphemeralIdentity]>([:])

    public init() {}

    public func set(_ identity: EphemeralIdentity, for name: String) { byName.withLockedValue { $0[name.lowercased()] = identity } }
    public func remove(_ name: String) { _ = byName.withLockedValue { $0.removeValue(forKey: name.lowercased()) } }
    func certificate(for name: String) -> EphemeralIdentity? { byName.withLockedValue { $0[name.lowercased()] } }
}
