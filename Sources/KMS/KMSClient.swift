import Addressing
import BootConfig
import DocumentReading
import Glibc
import HTTPHead

/// Where a KMS call gets its credentials (the parent half, or a test's).
public protocol CredentialsProviding: Sendable {
    func current() throws(KMSFailure) -> AWSCredentials
}

/// One KMS operation per call: JSON over HTTPS, signed with SigV4, through the route the app's
/// own traffic would take. Blocking: the boot step runs it on its own thread, the SDK endpoint
/// on a worker thread.
public struct KMSClient: Sendable {
    public let settings: KMSSettings
    public let route: KMSRoute
    let credentials: CredentialsProviding
    /// Every connect, read and write waits at most this long.
    public var timeoutSeconds = 15
    /// The clock the signature is dated with (tests fix it).
    var now: @Sendable () -> SigV4.Timestamp = { .now() }

    public init(settings: KMSSettings, route: KMSRoute, credentials: CredentialsProviding) {
        self.settings = settings
        self.route = route
        self.credentials = credentials
    }

    /// The Host header: the endpoint's name, with its port unless 443.
    var hostHeader: String { settings.endpoint.port == 443 ? settings.endpoint.host : settings.endpoint.description }

    /// Sends `TrentService.<operation>` with `body` and returns KMS's answer as it came, errors
    /// included (the SDK endpoint hands those back unchanged).
    public func send(operation: String, body: [UInt8]) throws(KMSFailure) -> HTTPReply {
        let credentials = try credentials.current()
        var headers: [(name: String, value: String)] = [("Host", hostHeader), ("Content-Type", "application/x-amz-json-1.1"),
                                                        ("X-Amz-Target", "TrentService.\(operation)")]
        let signed = SigV4(region: settings.region, service: "kms").sign(method: "POST", path: "/", headers: headers, body: body,
                                                                        credentials: credentials, at: now())
        headers += signed.headers
        headers += [("Content-Length", String(body.count)), ("Connection", "close"), ("User-Agent", "enclave-init")]
        let head: [UInt8]
        do { head = try HeadWriter.request(method: "POST", target: "/", headers: headers) } catch { throw .unsafeRequest("\(error)") }

        return try OutboundHTTPS(route: route, endpoint: settings.endpoint, caFile: settings.caFile, timeoutSeconds: timeoutSeconds)
            .exchange(head + body)
    }

    /// Sends and requires a 200 with a JSON object: the object, or KMS's error as a failure.
    public func call(operation: String, body: [UInt8]) throws(KMSFailure) -> [JSONMember] {
        let reply = try send(operation: operation, body: body)
        guard reply.status == 200 else { throw Self.failure(from: reply) }
        guard let root = try? JSONParser.parse(reply.body), case .object(let members) = root.value else {
            throw .malformedResponse("\(operation) answered 200 without a JSON object")
        }
        return members
    }

    /// KMS's error answer: {"__type": "...#AccessDeniedException", "message": "..."}.
    public static func failure(from reply: HTTPReply) -> KMSFailure {
        var type = "HTTP \(reply.status)"
        var message = String(decoding: reply.body.prefix(300), as: UTF8.self)
        if let root = try? JSONParser.parse(reply.body), case .object(let members) = root.value {
            for member in members {
                guard case .string(let text) = member.value.value else { continue }
                switch member.key {
                case "__type": type = String(text.split(separator: "#").last ?? Substring(text))
                case "message", "Message": message = text
                default: break
                }
            }
        }
        return .kms(status: reply.status, type: type, message: message)
    }
}
