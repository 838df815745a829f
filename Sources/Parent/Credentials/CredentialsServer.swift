import Addressing
import CSupport
import Glibc
import KMS
import LogThrottle
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Relay
import Services

/// Where the parent's credentials come from: its environment (AWS_ACCESS_KEY_ID,
/// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) when set, else the instance role through IMDSv2.
/// A copy is kept and fetched again before it expires; each fetch logs the role and the expiry,
/// never a key.
final class CredentialSource: Sendable {
    /// Fetched again when the copy expires within this; the enclave asks 5 minutes ahead.
    static let refreshMargin = 900
    /// The environment variables read (as the AWS CLI and SDKs name them).
    static let variables = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]

    private enum Origin: Sendable {
        case environment(Result<AWSCredentials, KMSFailure>)
        case imds(Result<IMDSClient, KMSFailure>)
    }

    private let origin: Origin
    private let cached = NIOLockedValueBox<AWSCredentials?>(nil)
    private let logger: Logger

    init(environment: [String: String], logger: Logger) {
        self.logger = logger
        if let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty, let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty {
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            let credentials = AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token, expiration: nil, source: "environment")
            // The same alphabet the enclave checks: refused here with the variable's field named,
            // rather than served and refused there.
            do {
                try credentials.validate()
                origin = .environment(.success(credentials))
            } catch {
                origin = .environment(.failure(.noCredentials("this process's environment: \(error) (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)")))
            }
        } else {
            origin = .imds(IMDSClient.configured())
        }
    }

    var describe: String {
        switch origin {
        case .environment(.success): return "this process's environment (AWS_ACCESS_KEY_ID)"
        case .environment(.failure(let failure)): return "nowhere: \(failure)"
        case .imds(.success(let client)): return "the instance role (IMDSv2 at \(client.address):\(client.port))"
        case .imds(.failure(let failure)): return "nowhere: \(failure)"
        }
    }

    func current() -> Result<AWSCredentials, KMSFailure> {
        switch origin {
        case .environment(let credentials): return credentials
        case .imds(.failure(let failure)): return .failure(failure)
        case .imds(.success(let client)):
            if let copy = cached.withLockedValue({ $0 }), !copy.expires(within: Self.refreshMargin) { return .success(copy) }
            do {
                let fresh = try client.credentials()
                cached.withLockedValue { $0 = fresh }
                logger.info("kms credentials: \(fresh)")
                return .success(fresh)
            } catch {
                logger.warning("kms credentials: \(error)")
                return .failure(error)
            }
        }
    }
}

/// Serves the role's credentials on kms.credentials.vsock_port: one JSON object per
/// connection, then close ({"Error": reason} when there are none) — to the enclave only. Any
/// vsock peer can connect to the parent (another enclave on the instance, or the instance's own
/// processes over the local CID), so each connection's CID is read from the socket and must be
/// the enclave's (`--enclave-cid`, `--enclave-name` looked up with nitro-cli, or the
/// emulation's); others get an error and a log line naming their CID. Blocking, on two threads
/// of its own: SwiftNIO gives no vsock peer address, and fetching can block on IMDS.
final class CredentialsServer: Service, Sendable {
    /// Connections waiting to be served beyond this are closed at once.
    static let maximumWaiting = 64

    let listen: ListenAddress
    private let emulation: VsockEmulation?
    private let source: CredentialSource
    private let enclave: RelayService.EnclaveCID
    private let logger: Logger
    private let listener = NIOLockedValueBox<Int32>(-1)
    private let waiting = NIOLockedValueBox(0)
    private let refusals = LogThrottle()
    /// The accept loop (it checks the CID) holds one thread of the shared blocking pool while
    /// it runs; admitted connections are answered two at a time in a lane of their own.
    private let acceptLoopEnded = NIOLockedValueBox<EventLoopFuture<Void>?>(nil)
    private let accepting = BlockingPool.Lane(width: 1)
    private let answering = BlockingPool.Lane(width: 2)

    init(listen: ListenAddress, emulation: VsockEmulation?, enclave: RelayService.EnclaveCID, environment: [String: String], logger: Logger) {
        self.listen = listen
        self.emulation = emulation
        self.enclave = enclave
        self.logger = logger
        source = CredentialSource(environment: environment, logger: logger)
    }

    var listening: [Listening] {
        [Listening("kms credentials \(listen) <- \(source.describe), for \(enclave.description) only", address: listen, emulation: emulation)]
    }

    func start() throws {
        let fd = listen.emulated(by: emulation).listenBlocking(backlog: 16)
        guard fd >= 0 else { throw ParentError.cannotListen(what: "kms credentials \(listen)", errno: errno) }
        listener.withLockedValue { $0 = fd }
        let ended = accepting.run(on: EventLoops.one()) { [self] in acceptLoop(fd) }
        acceptLoopEnded.withLockedValue { $0 = ended }
    }

    func stop() {
        let fd = listener.withLockedValue { fd in defer { fd = -1 }; return fd }
        // Wakes the blocked accept (it fails), which ends the loop; then the fd can go.
        if fd >= 0 { shutdown(fd, Int32(SHUT_RDWR)) }
        try? acceptLoopEnded.withLockedValue({ $0 })?.wait()
        if fd >= 0 { close(fd) }
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let connection = ei_accept(fd)
            if connection < 0 {
                if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE {
                    if errno == EMFILE || errno == ENFILE { usleep(100_000) }
                    continue
                }
                return // the listener was shut down
            }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if let refusal = refusal(of: connection) {
                if let unlogged = refusals.admit() {
                    let more = unlogged > 0 ? " (and \(unlogged) more since the last message)" : ""
                    logger.warning("kms credentials: refused \(refusal)\(more)")
                }
                _ = BlockingIO.writeAll(connection, Array(AWSCredentials.errorJSON("refused: this parent serves credentials to its enclave only").utf8))
                close(connection)
                continue
            }
            let admitted = waiting.withLockedValue { count -> Bool in
                guard count < Self.maximumWaiting else { return false }
                count += 1
                return true
            }
            guard admitted else {
                close(connection)
                continue
            }
            answering.submit { [self] in
                defer { waiting.withLockedValue { $0 -= 1 } }
                let line: String
                switch source.current() {
                case .success(let credentials): line = credentials.wireJSON
                case .failure(let failure): line = AWSCredentials.errorJSON("\(failure)")
                }
                _ = BlockingIO.writeAll(connection, Array(line.utf8))
                close(connection)
            }
        }
    }

    /// Why a connection may not have the credentials (nil: it is the enclave's).
    private func refusal(of connection: Int32) -> String? {
        var peer: UInt32 = 0
        guard ei_peer_cid(connection, &peer) == 0 else { return "a connection whose CID cannot be read (not vsock)" }
        switch enclave {
        case .fixed(let cid):
            return peer == cid ? nil : "a connection from CID \(peer): only the enclave, CID \(cid), is served"
        case .lookup(let description, let find):
            do {
                let cid = try find()
                return peer == cid ? nil : "a connection from CID \(peer): only \(description), CID \(cid), is served"
            } catch {
                return "a connection from CID \(peer): \(description)'s CID is unknown (\(error))"
            }
        }
    }
}

extension RelayService.EnclaveCID {
    var description: String {
        switch self {
        case .fixed(let cid): return "the enclave at CID \(cid)"
        case .lookup(let description, _): return description
        }
    }
}
