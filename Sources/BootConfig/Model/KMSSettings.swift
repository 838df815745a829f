import Addressing

/// `kms`: where enclave-init asks KMS to decrypt for the enclave (secrets at boot, the proxy for
/// the app's SDK), how it reaches it and whom it trusts.
public struct KMSSettings: Sendable, Equatable {
    public var region: String
    /// Where requests go, and the name TLS verifies: kms.REGION.amazonaws.com:443 by default.
    public var endpoint: HostPort
    /// The parent half serves the instance role's credentials on this vsock port.
    public var credentialsVsockPort: UInt32
    /// The CA bundle that KMS's certificate must chain to (the image's own).
    public var caFile: String = KMSSettings.defaultCAFile
    /// The endpoint for unmodified SDKs on 127.0.0.1:port (AWS_ENDPOINT_URL_KMS); nil: none.
    public var proxyPort: UInt16?
    /// How long the secrets step keeps trying while the parent half (its credentials, or the
    /// path to KMS) is not up yet, so the halves may start in either order.
    public var waitSeconds: Int = 30
    public static let waitRange: ClosedRange<Int64> = 0...600

    public static let defaultCAFile = "/etc/ssl/certs/ca-certificates.crt"

    public init(region: String, endpoint: HostPort? = nil, credentialsVsockPort: UInt32) {
        self.region = region
        self.endpoint = endpoint ?? Self.defaultEndpoint(region: region)
        self.credentialsVsockPort = credentialsVsockPort
    }

    public static func defaultEndpoint(region: String) -> HostPort {
        HostPort(host: "kms.\(region).amazonaws.com", port: 443)
    }

    /// The value AWS_ENDPOINT_URL_KMS gets in the app's environment.
    public var proxyURL: String? { proxyPort.map { "http://127.0.0.1:\($0)" } }
}

/// One `secrets[]` entry: a KMS ciphertext that enclave-init decrypts at boot (only an image
/// whose measurements the key policy names can) and hands to the app.
public struct Secret: Sendable, Equatable {
    public enum Destination: Sendable, Equatable, CustomStringConvertible {
        /// An environment variable of the app.
        case env(String)
        /// A file owned by the app's user, with this mode, on a tmpfs.
        case file(path: String, mode: UInt32)

        public var description: String {
            switch self {
            case .env(let name): return "env \(name)"
            case .file(let path, let mode): return "file \(path) (mode 0\(String(mode, radix: 8)))"
            }
        }
    }

    public enum Source: Sendable, Equatable, CustomStringConvertible {
        /// The ciphertext in the boot JSON, base64 as `aws kms encrypt` prints it.
        case inline(base64: String)
        /// A file in the image holding the ciphertext: its raw bytes or their base64.
        case file(String)

        public var description: String {
            switch self {
            case .inline(let base64): return "ciphertext in the boot JSON (\(base64.utf8.count) base64 characters)"
            case .file(let path): return "ciphertext from \(path)"
            }
        }
    }

    public var destination: Destination
    public var source: Source
    public var keyID: String?
    /// Sorted by key: KMS compares the map, not its order.
    public var encryptionContext: [String: String] = [:]
    /// false: a failure is a warning, and the app starts without it.
    public var required: Bool = true

    public init(destination: Destination, source: Source) {
        self.destination = destination
        self.source = source
    }

    public static let defaultFileMode: UInt32 = 0o400
}
