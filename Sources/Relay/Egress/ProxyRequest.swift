import Addressing
import HTTPHead
import Policy

/// A proxy request head, parsed strictly: `CONNECT host:port HTTP/1.1`, or an absolute-form
/// plain HTTP request (`GET http://host[:port]/path HTTP/1.1`) that is forwarded the same way.
/// The head itself is read by HTTPHead's RequestHead, the one HTTP parser of the binary.
struct ProxyRequest {
    var method: String
    var destination: Destination
    /// For plain HTTP: the path and query, sent to the origin server in origin form.
    var originForm: String?
    var headers: [(name: String, value: String)]

    static let maximumHeadBytes = 16 * 1024

    typealias Rejection = RequestHead.Rejection

    /// `head` ends with the empty line. Errors are 400 (malformed) or 431 (too many headers).
    static func parse(_ head: [UInt8], connectOnly: Bool = false) -> Result<ProxyRequest, Rejection> {
        func bad(_ reason: String) -> Result<ProxyRequest, Rejection> { .failure(Rejection(status: 400, reason: reason)) }
        let parsed: RequestHead
        switch RequestHead.parse(head) {
        case .success(let found): parsed = found
        case .failure(let rejection): return .failure(rejection)
        }
        let method = parsed.method, target = parsed.target, headers = parsed.headers

        if method == "CONNECT" {
            switch Destination.parse(authority: target) {
            case .success(let destination): return .success(ProxyRequest(method: method, destination: destination, originForm: nil, headers: headers))
            case .failure(let problem): return bad("CONNECT target: \(problem)")
            }
        }
        if connectOnly { return .failure(Rejection(status: 405, reason: "only CONNECT is served here")) }
        return absolute(method: method, target: target, headers: headers)
    }

    private static func absolute(method: String, target: String, headers: [(name: String, value: String)]) -> Result<ProxyRequest, Rejection> {
        let lower = target.lowercased()
        guard lower.hasPrefix("http://") else {
            if lower.hasPrefix("https://") { return .failure(Rejection(status: 400, reason: "https URLs go through CONNECT (set https_proxy)")) }
            return .failure(Rejection(status: 400, reason: "a proxy request needs an absolute http:// URL or CONNECT, not \"\(target.prefix(100))\""))
        }
        let rest = target.dropFirst("http://".count)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = String(rest[..<authorityEnd])
        var origin = String(rest[authorityEnd...])
        if let fragment = origin.firstIndex(of: "#") { origin = String(origin[..<fragment]) }
        if origin.isEmpty || origin.hasPrefix("?") { origin = "/" + origin }
        guard !authority.contains("@") else { return .failure(Rejection(status: 400, reason: "userinfo (\"@\") is not allowed in a proxy URL")) }
        // No port written: http's own. (A malformed authority is left for Destination to name.)
        let withPort: String
        if case .success(let split) = HostGrammar.split(authority[...], port: .optional), split.port == nil {
            withPort = authority + ":80"
        } else {
            withPort = authority
        }
        switch Destination.parse(authority: withPort) {
        case .success(let destination): return .success(ProxyRequest(method: method, destination: destination, originForm: origin, headers: headers))
        case .failure(let problem): return .failure(Rejection(status: 400, reason: "URL host: \(problem)"))
        }
    }

    /// The head sent to the origin server for a plain HTTP request: origin form, the Host the
    /// policy approved, hop-by-hop and proxy headers dropped, and one request per connection
    /// (`Connection: close`), so a second request cannot reuse an approved connection.
    func originHead() throws(HeadWriter.UnsafeField) -> [UInt8] {
        let hopByHop: Set<String> = ["host", "connection", "proxy-connection", "keep-alive", "proxy-authorization", "te", "upgrade"]
        let hostValue = destination.port == 80 ? (destination.description.hasSuffix(":80") ? String(destination.description.dropLast(3)) : destination.description) : destination.description
        let kept = headers.filter { !hopByHop.contains($0.name.lowercased()) }
        return try HeadWriter.request(method: method, target: originForm ?? "/",
                                      headers: [("Host", hostValue)] + kept + [("Connection", "close")])
    }

    /// What the enclave half sends to the parent half: the normalised destination.
    static func connectHead(to destination: Destination) throws(HeadWriter.UnsafeField) -> [UInt8] {
        try HeadWriter.request(method: "CONNECT", target: "\(destination)", headers: [("Host", "\(destination)")])
    }
}
