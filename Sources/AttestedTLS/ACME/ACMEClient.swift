import Addressing
import BootConfig
import DocumentReading
import Glibc
import KMS
import Policy

/// Why getting a certificate from the ACME CA failed; each names the step and the CA's own words.
public enum ACMEFailure: Error, Equatable, CustomStringConvertible {
    /// The CA (or the path to it) could not be reached, or TLS to it failed.
    case unreachable(String)
    /// The CA answered with a problem document (RFC 7807): its type and detail.
    case refused(step: String, status: Int, type: String, detail: String)
    /// An answer that is not what RFC 8555 says it is.
    case malformed(String)
    case crypto(String)
    /// The CA could not validate a name: its reason (TLS-ALPN-01 through the ingress).
    case challengeFailed(name: String, detail: String)
    /// The CA did not finish in time.
    case timedOut(String)
    /// The ingress stopped while a certificate was being asked for.
    case stopped

    public var description: String {
        switch self {
        case .unreachable(let reason): return "cannot reach the ACME CA: \(reason)"
        case .refused(let step, let status, let type, let detail):
            return "the ACME CA refused \(step) (\(status) \(type.replacing("urn:ietf:params:acme:error:", with: ""))): \(detail)"
        case .malformed(let reason): return "the ACME CA's answer is malformed: \(reason)"
        case .crypto(let reason): return "ACME: \(reason)"
        case .challengeFailed(let name, let detail): return "the ACME CA could not validate \(name) with TLS-ALPN-01: \(detail)"
        case .timedOut(let what): return "the ACME CA did not finish \(what) in time"
        case .stopped: return "stopped"
        }
    }
}

/// An RFC 8555 client for one ingress: an account (its key made in the enclave, kept for the
/// enclave's life), an order for the names, each authorization proved with TLS-ALPN-01 (RFC
/// 8737) by the ingress's own listener, the order finalized with a CSR for the ingress's key,
/// and the chain downloaded. Blocking: it runs on the blocking pool, never an event loop.
/// Requests go out the way the app's would (`route`), with TLS to the CA checked against
/// `acme.ca_file`.
final class ACMEClient: @unchecked Sendable {
    private let settings: ACMESettings
    private let jws: JWS
    private let route: @Sendable (HostPort) -> OutboundRoute?
    private let log: @Sendable (String) -> Void
    private var nonce: String?
    private var accountURL: String?
    private var directory: (newNonce: String, newAccount: String, newOrder: String)?
    /// How long a poll for a challenge or an order waits in all.
    var pollLimitSeconds = 90

    init(settings: ACMESettings, accountKey: TLSKey, route: @escaping @Sendable (HostPort) -> OutboundRoute?, log: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.jws = JWS(key: accountKey)
        self.route = route
        self.log = log
    }

    /// A certificate chain (PEM) for `names` and `key`, the challenges answered through `challenges`.
    func issue(names: [String], key: TLSKey, challenges: ChallengeCertificates, stopped: () -> Bool) throws(ACMEFailure) -> String {
        let directory: (newNonce: String, newAccount: String, newOrder: String)
        if let known = self.directory { directory = known } else { directory = try fetchDirectory() }
        if accountURL == nil { try register(directory.newAccount) }
        let identifiers = JSONOutput.array(names.map { .object([("type", .string("dns")), ("value", .string($0))]) })
        let ordered = try post(directory.newOrder, payload: .object([("identifiers", identifiers)]), step: "the order")
        guard let orderURL = ordered.reply.value(of: "Location") else { throw .malformed("the new order has no Location") }
        let order = try Self.object(ordered.body)
        guard let authorizations = order.strings("authorizations"), let finalize = order.string("finalize") else {
            throw .malformed("the order lacks authorizations or finalize")
        }
        for authorization in authorizations {
            if stopped() { throw .stopped }
            try prove(authorization, challenges: challenges, stopped: stopped)
        }
        let csr = try CertificateRequest.der(names: names, key: key)
        _ = try post(finalize, payload: .object([("csr", .string(JWS.base64url(csr)))]), step: "finalizing the order")
        let done = try poll(orderURL, what: "the order", until: ["valid"], stopped: stopped)
        guard let certificate = done.string("certificate") else { throw .malformed("the valid order names no certificate") }
        let chain = try post(certificate, payload: nil, step: "downloading the certificate")
        return String(decoding: chain.body, as: UTF8.self)
    }

    private func fetchDirectory() throws(ACMEFailure) -> (newNonce: String, newAccount: String, newOrder: String) {
        let reply = try send("GET", settings.directory.description, body: nil)
        guard reply.status == 200 else { throw Self.problem(reply, step: "the directory") }
        let object = try Self.object(reply.body)
        guard let newNonce = object.string("newNonce"), let newAccount = object.string("newAccount"), let newOrder = object.string("newOrder") else {
            throw .malformed("the directory lacks newNonce, newAccount or newOrder")
        }
        directory = (newNonce, newAccount, newOrder)
        return (newNonce, newAccount, newOrder)
    }

    private func register(_ url: String) throws(ACMEFailure) {
        var account: [(String, JSONOutput)] = [("termsOfServiceAgreed", .bool(true))]
        if !settings.contact.isEmpty { account.append(("contact", .array(settings.contact.map(JSONOutput.string)))) }
        let made = try post(url, payload: .object(account), step: "the account", asAccount: false)
        guard let location = made.reply.value(of: "Location") else { throw .malformed("the new account has no Location") }
        accountURL = location
        log("ACME account \(location)")
    }

    /// One authorization: nothing when the CA holds it valid already, else its TLS-ALPN-01
    /// challenge answered (the certificate in `challenges` while the CA validates).
    private func prove(_ url: String, challenges: ChallengeCertificates, stopped: () -> Bool) throws(ACMEFailure) {
        let authorization = try Self.object(try post(url, payload: nil, step: "the authorization").body)
        if authorization.string("status") == "valid" { return }
        guard let name = authorization.object("identifier")?.string("value") else { throw .malformed("an authorization without an identifier") }
        let offered = authorization.objects("challenges") ?? []
        guard let challenge = offered.first(where: { $0.string("type") == "tls-alpn-01" }), let challengeURL = challenge.string("url"),
              let token = challenge.string("token") else {
            let types = offered.compactMap { $0.string("type") }.joined(separator: ", ")
            throw .challengeFailed(name: name, detail: "the CA offers no tls-alpn-01 challenge (it offers: \(types))")
        }
        let keyAuthorization = token + "." + jws.thumbprint
        let certificate: EphemeralIdentity
        do {
            certificate = try EphemeralIdentity(names: [name], days: 7, acmeIdentifier: OpenSSL.sha256(Array(keyAuthorization.utf8)))
        } catch {
            throw .crypto("the challenge certificate for \(name): \(error)")
        }
        challenges.set(certificate, for: name)
        defer { challenges.remove(name) }
        _ = try post(challengeURL, payload: .object([]), step: "the challenge for \(name)")
        let result = try poll(url, what: "the authorization of \(name)", until: ["valid"], stopped: stopped, name: name)
        log("ACME: \(name) validated (TLS-ALPN-01) \(result.string("status") ?? "")")
    }

    /// POST-as-GET `url` until its status is one of `until`; "invalid" fails with the CA's reason.
    private func poll(_ url: String, what: String, until: Set<String>, stopped: () -> Bool, name: String? = nil) throws(ACMEFailure) -> JSONObject {
        let deadline = Self.now() + Double(pollLimitSeconds)
        while true {
            if stopped() { throw .stopped }
            let answer = try post(url, payload: nil, step: what)
            let object = try Self.object(answer.body)
            let status = object.string("status") ?? ""
            if until.contains(status) { return object }
            if status == "invalid" {
                let detail = object.objects("challenges")?.compactMap { $0.object("error")?.string("detail") }.first
                    ?? object.object("error")?.string("detail") ?? "status invalid"
                if let name { throw .challengeFailed(name: name, detail: detail) }
                throw .refused(step: what, status: answer.reply.status, type: "invalid", detail: detail)
            }
            guard Self.now() < deadline else { throw .timedOut(what) }
            let wait = min(max(answer.reply.value(of: "Retry-After").flatMap { Double($0) } ?? 1, 0.2), 5)
            usleep(UInt32(wait * 1_000_000))
        }
    }

    /// A signed POST (payload nil: POST-as-GET). A badNonce answer is retried with the fresh
    /// nonce it carries, as RFC 8555 6.5 asks, a few times.
    private func post(_ url: String, payload: JSONOutput?, step: String, asAccount: Bool = true) throws(ACMEFailure) -> (reply: HTTPReply, body: [UInt8]) {
        for _ in 0..<4 {
            let nonce = try takeNonce()
            let body = try jws.sign(url: url, nonce: nonce, accountURL: asAccount ? accountURL : nil, payload: payload)
            let reply = try send("POST", url, body: body)
            if (200..<300).contains(reply.status) { return (reply, reply.body) }
            let failure = Self.problem(reply, step: step)
            if case .refused(_, _, let type, _) = failure, type.hasSuffix(":badNonce") { continue }
            throw failure
        }
        throw .refused(step: step, status: 400, type: "badNonce", detail: "four fresh nonces in a row were refused")
    }

    private func takeNonce() throws(ACMEFailure) -> String {
        if let nonce {
            self.nonce = nil
            return nonce
        }
        guard let directory else { throw .malformed("no directory") }
        _ = try send("GET", directory.newNonce, body: nil)
        guard let fresh = nonce else { throw .malformed("newNonce gave no Replay-Nonce") }
        self.nonce = nil
        return fresh
    }

    /// One HTTPS exchange with the CA, the way the app's traffic goes out; keeps its Replay-Nonce.
    private func send(_ method: String, _ url: String, body: [UInt8]?) throws(ACMEFailure) -> HTTPReply {
        guard let parts = URLParts.https(url) else { throw .malformed("not an https URL: \(url.prefix(200))") }
        guard let route = route(parts.endpoint) else {
            throw .unreachable("nothing carries \(parts.endpoint) out of the enclave (the CA named it in its answer; map it in hosts[] or allow it in egress)")
        }
        let client = OutboundHTTPS(route: route, endpoint: parts.endpoint, caFile: settings.caFile,
                                   peer: .init(name: "the ACME CA", caSetting: "tls.acme.ca_file"), timeoutSeconds: 15)
        let reply: HTTPReply
        do {
            reply = try client.send(method: method, path: parts.path, headers: body == nil ? [] : [("Content-Type", "application/jose+json")], body: body ?? [])
        } catch {
            throw .unreachable(Self.transportReason(error))
        }
        if let fresh = reply.value(of: "Replay-Nonce") { nonce = fresh }
        return reply
    }

    /// The transport's reason without its KMS wording.
    private static func transportReason(_ failure: KMSFailure) -> String {
        switch failure {
        case .unreachable(let reason), .tls(let reason), .protocolError(let reason), .unsafeRequest(let reason), .malformedResponse(let reason):
            return reason
        default:
            return "\(failure)"
        }
    }

    private static func problem(_ reply: HTTPReply, step: String) -> ACMEFailure {
        let object = try? object(reply.body)
        return .refused(step: step, status: reply.status, type: object?.string("type") ?? "HTTP \(reply.status)",
                        detail: object?.string("detail") ?? String(decoding: reply.body.prefix(300), as: UTF8.self))
    }

    private static func object(_ body: [UInt8]) throws(ACMEFailure) -> JSONObject {
        guard let root = try? JSONParser.parse(body), case .object(let members) = root.value else {
            throw .malformed("not a JSON object: \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
        return JSONObject(members: members)
    }

    private static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

/// Typed reads of an ACME answer's members.
struct JSONObject {
    let members: [JSONMember]

    func string(_ key: String) -> String? {
        if case .string(let text)? = members.first(where: { $0.key == key })?.value.value { return text }
        return nil
    }
    func object(_ key: String) -> JSONObject? {
        if case .object(let inner)? = members.first(where: { $0.key == key })?.value.value { return JSONObject(members: inner) }
        return nil
    }
    func strings(_ key: String) -> [String]? {
        guard case .array(let items)? = members.first(where: { $0.key == key })?.value.value else { return nil }
        return items.compactMap { if case .string(let text) = $0.value { text } else { nil } }
    }
    func objects(_ key: String) -> [JSONObject]? {
        guard case .array(let items)? = members.first(where: { $0.key == key })?.value.value else { return nil }
        return items.compactMap { if case .object(let inner) = $0.value { JSONObject(members: inner) } else { nil } }
    }
}
