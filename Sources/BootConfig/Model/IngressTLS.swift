import Addressing

/// `ingress[].tls`: enclave-init terminates TLS on the ingress itself, with a key made at boot
/// in its own memory, and hands the app the plain bytes on its port as without it. The parent
/// carries only ciphertext. A client binds the certificate to the enclave by asking, over the
/// same TLS, for an attestation document that names the certificate's public key
/// (`attestation`, on the ALPN protocol `IngressTLS.attestationProtocol`).
public struct IngressTLS: Sendable, Equatable {
    /// Where the certificate comes from.
    public enum CertificateSource: Sendable, Equatable {
        /// Made by enclave-init for `names`; a client pins it (or its key) after `verify`.
        case selfSigned
        /// Issued by an ACME CA (RFC 8555) for `names`, renewed while the enclave runs.
        case acme(ACMESettings)
    }

    /// The DNS names the certificate is for (its subjectAltName); the first is its CN.
    public var names: [String]
    public var certificate: CertificateSource = .selfSigned
    /// The protocols the app speaks, in preference order, for ALPN: enclave-init selects the
    /// first the client offers too (e.g. "h2" only when the app speaks HTTP/2 without TLS).
    /// Empty: none is selected, and the client speaks its default (HTTP/1.1 for HTTP clients).
    public var alpn: [String] = []
    /// Whether a client may ask for an attestation document over this TLS (ALPN
    /// `attestationProtocol`). On by default: it is what makes the certificate worth trusting.
    public var attestation = true
    /// A file the certificate chain (PEM, never the key) is written to for the app, rewritten at
    /// each renewal; nil: none.
    public var certificateFile: String?

    public init(names: [String]) {
        self.names = names
    }

    /// The ALPN protocol of the binding: a client that offers it (alone) gets enclave-init's
    /// attestation request on that connection instead of the app.
    public static let attestationProtocol = "enclave-attestation/1"
    /// RFC 8737's protocol for the TLS-ALPN-01 challenge.
    public static let acmeProtocol = "acme-tls/1"
    /// Protocols the app may not claim: enclave-init answers them itself.
    public static let reservedProtocols = [attestationProtocol, acmeProtocol]
    /// The certificate a self-signed identity gets, and a self-signed stand-in while ACME waits.
    public static let selfSignedDays = 30
}

/// `ingress[].tls.acme`: the certificate from an ACME CA (Let's Encrypt, a private CA), the
/// account key and the certificate's key made in the enclave, the challenge answered by
/// enclave-init itself on this ingress (TLS-ALPN-01), the CA reached the way the app's traffic
/// would be (a hosts[] mapping, or the egress policy).
public struct ACMESettings: Sendable, Equatable {
    public enum UntilIssued: String, Sendable, Equatable {
        /// Serve a self-signed certificate for the names until the CA's arrives.
        case selfSigned = "self-signed"
        /// Refuse TLS connections (the handshake fails) until the CA's certificate arrives.
        case refuse
    }

    /// The directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory.
    public var directory: URLParts
    /// The account's contact URLs (mailto:...); may be empty.
    public var contact: [String] = []
    /// The CA bundle the directory's own TLS certificate must chain to.
    public var caFile: String = KMSSettings.defaultCAFile
    public var untilIssued: UntilIssued = .selfSigned

    public init(directory: URLParts) {
        self.directory = directory
    }
}

/// An https URL cut into what a client dials and what it asks for.
public struct URLParts: Sendable, Equatable, CustomStringConvertible {
    public var endpoint: HostPort
    /// The path and query, "/" at least.
    public var path: String

    public init(endpoint: HostPort, path: String) {
        self.endpoint = endpoint
        self.path = path
    }

    public var description: String {
        "https://\(endpoint.port == 443 ? endpoint.host : endpoint.description)\(path)"
    }

    /// "https://host[:port]/path" → its parts; nil for anything else (another scheme, user
    /// information, a fragment, a space).
    public static func https(_ text: String) -> URLParts? {
        guard text.hasPrefix("https://"), !text.contains(where: { $0 == " " || $0 == "#" }) else { return nil }
        let rest = text.dropFirst(8)
        let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = String(rest[..<slash])
        guard !authority.contains("@"), case .success(let endpoint) = HostPort.parse(authority, defaultPort: 443) else { return nil }
        let path = String(rest[slash...])
        return URLParts(endpoint: endpoint, path: path.isEmpty ? "/" : (path.hasPrefix("?") ? "/" + path : path))
    }
}
