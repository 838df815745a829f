import Glibc

/// AWS Signature Version 4 (header form): the canonical request, the string to sign, the
/// signing key chain and the Authorization header. Hand-written because no Swift library
/// here signs without Foundation; tested against AWS's published examples and botocore's
/// signer.
public struct SigV4: Sendable {
    public var region: String
    public var service: String

    public init(region: String, service: String) {
        self.region = region
        self.service = service
    }

    /// "20150830T123600Z" and "20150830".
    public struct Timestamp: Sendable, Equatable {
        public var amzDate: String
        public var day: String { String(amzDate.prefix(8)) }

        public init(amzDate: String) {
            self.amzDate = amzDate
        }

        public init(secondsSinceEpoch seconds: Int) {
            var time = time_t(seconds)
            var parts = tm()
            gmtime_r(&time, &parts)
            func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
            amzDate = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
        }

        public static func now() -> Timestamp { Timestamp(secondsSinceEpoch: time(nil)) }
    }

    public struct Signed: Sendable {
        /// The headers to add to the request: X-Amz-Date, X-Amz-Security-Token (with a session
        /// token), Authorization.
        public var headers: [(name: String, value: String)]
        public var canonicalRequest: String
        public var stringToSign: String
    }

    /// Signs every header given (Host included; the caller leaves out hop-by-hop ones).
    /// `path` is the request's path as sent, `query` its query string without "?".
    public func sign(method: String, path: String, query: String = "", headers: [(name: String, value: String)],
                     body: [UInt8], credentials: AWSCredentials, at timestamp: Timestamp) -> Signed {
        var signing = headers.filter { !["authorization", "x-amz-date", "x-amz-security-token"].contains($0.name.lowercased()) }
        var added: [(name: String, value: String)] = [("X-Amz-Date", timestamp.amzDate)]
        if let token = credentials.sessionToken { added.append(("X-Amz-Security-Token", token)) }
        signing += added

        // Lower-case names, values trimmed with inner runs of spaces made one, repeated names
        // joined with commas, sorted by name.
        var byName: [String: [String]] = [:]
        for (name, value) in signing { byName[name.lowercased(), default: []].append(Self.trimmed(value)) }
        let names = byName.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(byName[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let payloadHash = OpenSSL.hex(OpenSSL.sha256(body))
        let canonicalRequest = [method, Self.canonicalPath(path), Self.canonicalQuery(query), canonicalHeaders, signedHeaders, payloadHash]
            .joined(separator: "\n")

        let scope = "\(timestamp.day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", timestamp.amzDate, scope, OpenSSL.hex(OpenSSL.sha256(Array(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        var key = OpenSSL.hmacSHA256(key: Array("AWS4\(credentials.secretAccessKey)".utf8), Array(timestamp.day.utf8))
        for part in [region, service, "aws4_request"] { key = OpenSSL.hmacSHA256(key: key, Array(part.utf8)) }
        let signature = OpenSSL.hex(OpenSSL.hmacSHA256(key: key, Array(stringToSign.utf8)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signed(headers: added + [("Authorization", authorization)], canonicalRequest: canonicalRequest, stringToSign: stringToSign)
    }

    private static func trimmed(_ value: String) -> String {
        var out = ""
        var lastWasSpace = false
        for scalar in value.unicodeScalars {
            let space = scalar == " " || scalar == "\t"
            if space && (lastWasSpace || out.isEmpty) { continue }
            out.unicodeScalars.append(space ? " " : scalar)
            lastWasSpace = space
        }
        if out.hasSuffix(" ") { out.removeLast() }
        return out
    }

    /// Each segment percent-encoded (RFC 3986 unreserved kept), "." and ".." resolved, as
    /// every service but S3 expects.
    static func canonicalPath(_ path: String) -> String {
        var segments: [String] = []
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for part in parts {
            switch part {
            case ".": continue
            case "..": if !segments.isEmpty { segments.removeLast() }
            case "": continue
            default: segments.append(encode(String(part), keepSlash: false))
            }
        }
        var result = "/" + segments.joined(separator: "/")
        if path.hasSuffix("/") && !segments.isEmpty { result += "/" }
        return result
    }

    /// Parameters sorted by encoded name, then value; each encoded once.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&").map { pair -> (String, String) in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = encode(percentDecoded(String(parts[0])), keepSlash: false)
            let value = parts.count > 1 ? encode(percentDecoded(String(parts[1])), keepSlash: false) : ""
            return (name, value)
        }
        return pairs.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    static func encode(_ text: String, keepSlash: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func percentDecoded(_ text: String) -> String {
        var out = [UInt8]()
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            if byte == UInt8(ascii: "%"), bytes.count >= 2,
               let value = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                out.append(value)
                bytes = bytes.dropFirst(2)
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
