import Addressing
import Glibc
import KMS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
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
/// connection, then close ({"Error": reason} when there are none). Fetching can block on
/// IMDS, so it runs on a worker thread, never on an event loop.
final class CredentialsServer: Service, Sendable {
    let listen: ListenAddress
    private let emulation: VsockEmulation?
    private let source: CredentialSource
    private let logger: Logger
    private let channel = NIOLockedValueBox<Channel?>(nil)
    private let accepted = AcceptedChannels()
    private let workers = NIOThreadPool(numberOfThreads: 1)

    init(listen: ListenAddress, emulation: VsockEmulation?, environment: [String: String], logger: Logger) {
        self.listen = listen
        self.emulation = emulation
        self.logger = logger
        source = CredentialSource(environment: environment, logger: logger)
    }

    var listening: [Listening] {
        [Listening("kms credentials \(listen) <- \(source.describe)", address: listen, emulation: emulation)]
    }

    func start() throws {
        workers.start()
        let bound = try ServerBootstrap(group: EventLoops.one())
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [accepted, workers, source] channel in
                accepted.track(channel)
                workers.runIfActive(eventLoop: channel.eventLoop) { () -> String in
                    switch source.current() {
                    case .success(let credentials): return credentials.wireJSON
                    case .failure(let failure): return AWSCredentials.errorJSON("\(failure)")
                    }
                }.whenComplete { result in
                    let line = (try? result.get()) ?? AWSCredentials.errorJSON("the parent half is stopping")
                    channel.writeAndFlush(channel.allocator.buffer(string: line)).whenComplete { _ in channel.close(promise: nil) }
                }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(listen.emulated(by: emulation)).wait()
        channel.withLockedValue { $0 = bound }
    }

    func stop() {
        if let channel = channel.withLockedValue({ $0 }) { try? channel.close().wait() }
        accepted.closeAll()
        try? workers.syncShutdownGracefully()
    }
}
