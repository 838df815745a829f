import DocumentReading
import Glibc

/// Temporary (or long-term) AWS credentials: what the parent half serves the enclave, one JSON
/// object per connection, in IMDS's own field names. Their description never shows the secret
/// key or the token.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// Seconds since the epoch; nil: they do not expire (long-term keys from the environment).
    public var expiration: Int?
    /// Where the parent got them: "role NAME" or "environment".
    public var source: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String?, expiration: Int?, source: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
        self.source = source
    }

    public var description: String {
        "\(source) credentials" + (expiration.map { ", expiring \(Self.iso8601($0))" } ?? ", no expiry")
    }

    /// Whether they expire within `seconds` from `now`.
    public func expires(within seconds: Int, now: Int = time(nil)) -> Bool {
        guard let expiration else { return false }
        return expiration - now <= seconds
    }

    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// The wire form: {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "Source"}, or
    /// {"Error": "..."} when the parent has none.
    public var wireJSON: String {
        var members: [(String, JSONOutput)] = [("AccessKeyId", .string(accessKeyID)), ("SecretAccessKey", .string(secretAccessKey))]
        if let sessionToken { members.append(("Token", .string(sessionToken))) }
        if let expiration { members.append(("Expiration", .string(Self.iso8601(expiration)))) }
        members.append(("Source", .string(source)))
        return JSONOutput.object(members).rendered(pretty: false) + "\n"
    }

    public static func errorJSON(_ reason: String) -> String {
        JSONOutput.object([("Error", .string(reason))]).rendered(pretty: false) + "\n"
    }

    /// Parses the wire form, or IMDS's credentials document (`source` names the role then).
    /// An {"Error"} object is thrown as its reason.
    public static func parse(_ bytes: [UInt8], source: String? = nil) throws(Malformed) -> AWSCredentials {
        let root: JSONNode
        do { root = try JSONParser.parse(bytes) } catch { throw Malformed(reason: "not JSON (\(error))") }
        guard case .object(let members) = root.value else { throw Malformed(reason: "not a JSON object") }
        func text(_ key: String) -> String? {
            guard case .string(let value)? = members.first(where: { $0.key == key })?.value.value else { return nil }
            return value
        }
        if let error = text("Error") { throw Malformed(reason: error) }
        if let code = text("Code"), code != "Success" { throw Malformed(reason: "IMDS answered Code \(code)") }
        guard let key = text("AccessKeyId") else { throw Malformed(reason: "no AccessKeyId") }
        guard let secret = text("SecretAccessKey") else { throw Malformed(reason: "no SecretAccessKey") }
        var expiration: Int?
        if let stamp = text("Expiration") {
            guard let seconds = parseISO8601(stamp) else {
                throw Malformed(reason: "Expiration \"\(Self.printable(stamp, limit: 40))\" is not an ISO 8601 UTC time")
            }
            expiration = seconds
        }
        let token = text("Token").flatMap { $0.isEmpty ? nil : $0 }
        let label = source ?? text("Source").map { Self.printable($0, limit: 100) } ?? "parent"
        let credentials = AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token, expiration: expiration, source: label)
        try credentials.validate()
        return credentials
    }

    /// The longest session token taken (STS's are 400-2,000 characters today; AWS fixes no
    /// size, so room to grow, within what the enclave reads from the parent).
    public static let maximumTokenLength = 8192

    /// Each part in its own alphabet and length, before any of it goes near a request: a key id
    /// of upper-case letters and digits (16-128), a secret key (1-256) and a session token
    /// (1-8,192) of visible ASCII only, so no CR, LF or other control character a parent could
    /// use to write its own header or request into the enclave's. The reason names the field,
    /// never its value.
    public func validate() throws(Malformed) {
        guard (16...128).contains(accessKeyID.utf8.count),
              accessKeyID.utf8.allSatisfy({ (0x41...0x5A).contains($0) || (0x30...0x39).contains($0) }) else {
            throw Malformed(reason: "AccessKeyId is not 16-128 upper-case letters and digits")
        }
        try Self.check(secretAccessKey, field: "SecretAccessKey", maximum: 256)
        if let sessionToken { try Self.check(sessionToken, field: "Token", maximum: Self.maximumTokenLength) }
    }

    private static func check(_ value: String, field: String, maximum: Int) throws(Malformed) {
        guard (1...maximum).contains(value.utf8.count) else { throw Malformed(reason: "\(field) is empty or longer than \(maximum) characters") }
        guard value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw Malformed(reason: "\(field) has a character outside visible ASCII (a CR, LF, space or control character): refused, it would go into a request header")
        }
    }

    /// `text` with anything but visible ASCII and spaces dropped, at most `limit` long: for
    /// parts that are only ever logged.
    static func printable(_ text: String, limit: Int) -> String {
        String(decoding: text.utf8.filter { (0x20...0x7E).contains($0) }.prefix(limit), as: UTF8.self)
    }

    /// "2026-12-07T19:13:00Z" (fractions of a second allowed and dropped).
    public static func parseISO8601(_ text: String) -> Int? { UTCTime.parse(text).map { Int($0) } }

    public static func iso8601(_ seconds: Int) -> String {
        let stamp = SigV4.Timestamp(secondsSinceEpoch: seconds).amzDate
        let b = Array(stamp)
        return "\(String(b[0..<4]))-\(String(b[4..<6]))-\(String(b[6..<8]))T\(String(b[9..<11])):\(String(b[11..<13])):\(String(b[13..<15]))Z"
    }
}
