import Addressing
import Glibc
import NIOConcurrencyHelpers

/// The role's credentials as the parent half serves them on kms.credentials.vsock_port: one
/// JSON object per connection. Kept until they near expiry, then asked for again. The parent is
/// untrusted: what it sends is bounded, parsed strictly, and at worst makes KMS refuse.
public final class ParentCredentials: CredentialsProviding, Sendable {
    /// Asked again when the copy expires within this (IMDS rotates about 5 minutes before).
    public static let refreshMargin = 300
    static let maximumBytes = 16 * 1024

    private let endpoint: Endpoint
    private let cached = NIOLockedValueBox<AWSCredentials?>(nil)
    private let timeoutMilliseconds: Int32
    /// Under the vsock emulation: the enclave's CID, which the parent checks (see CredentialsServer).
    private let emulatedSourceCID: UInt32?

    public init(endpoint: Endpoint, emulatedSourceCID: UInt32? = nil, timeoutMilliseconds: Int32 = 5000) {
        self.endpoint = endpoint
        self.emulatedSourceCID = emulatedSourceCID
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    public func current() throws(KMSFailure) -> AWSCredentials {
        if let credentials = cached.withLockedValue({ $0 }), !credentials.expires(within: Self.refreshMargin) { return credentials }
        let fresh = try fetch()
        cached.withLockedValue { $0 = fresh }
        return fresh
    }

    private func fetch() throws(KMSFailure) -> AWSCredentials {
        let fd = endpoint.connectBlocking(timeoutMilliseconds: timeoutMilliseconds, emulatedSourceCID: emulatedSourceCID)
        guard fd >= 0 else { throw .parentNotListening("cannot connect to \(endpoint): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: Int(timeoutMilliseconds / 1000), tv_usec: Int(timeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let received: [UInt8]
        switch BlockingIO.readToEnd(fd, limit: Self.maximumBytes) {
        case .success(let bytes): received = bytes
        case .failure(.tooLarge): throw .noCredentials("the parent sent more than \(Self.maximumBytes) bytes")
        case .failure(.failed(let code)):
            throw .noCredentials("reading from \(endpoint): \(code == EAGAIN ? "no answer within \(timeoutMilliseconds) ms" : String(cString: strerror(code)))")
        }
        guard !received.isEmpty else { throw .noCredentials("the parent closed the connection without credentials") }
        do {
            let credentials = try AWSCredentials.parse(received)
            if credentials.expires(within: 0) { throw KMSFailure.noCredentials("the parent's credentials expired at \(AWSCredentials.iso8601(credentials.expiration ?? 0))") }
            return credentials
        } catch let failure as KMSFailure {
            throw failure
        } catch {
            throw .noCredentials("\(error)")
        }
    }
}
