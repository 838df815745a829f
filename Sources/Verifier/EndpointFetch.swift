import Addressing
import COpenSSL
import ExtrasBase64
import Glibc
import HTTPHead

/// A fresh document from a live enclave: `POST /v1/attestation` with a nonce of the verifier's
/// own to enclave-init's attestation endpoint, reached through an ingress mapping of the parent
/// half (plain HTTP: the endpoint speaks nothing else). Blocking, each step bounded by the
/// timeout. Written here rather than borrowed from KMS's IMDS client, which sends no body and
/// takes only IPv4 literals.
enum EndpointFetch {
    struct Failure: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    struct Target: Equatable {
        var host: String
        var port: UInt16
        var path: String
    }

    /// `http://HOST:PORT[/PATH]`, the path defaulting to the endpoint's own.
    static func parse(_ url: String) -> Target? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard let colon = authority.lastIndex(of: ":"), let port = UInt16(authority[authority.index(after: colon)...]), port > 0 else { return nil }
        var host = String(authority[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return Target(host: host, port: port, path: path.isEmpty ? "/v1/attestation" : String(path))
    }

    /// 32 random bytes from OpenSSL's generator (seeded by the kernel).
    static func freshNonce() throws(Failure) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&nonce, Int32(nonce.count)) == 1 else { throw Failure(reason: "OpenSSL could not make a random nonce") }
        return nonce
    }

    static func document(from target: Target, nonce: [UInt8], timeoutSeconds: Int = 10) throws(Failure) -> [UInt8] {
        let request = try request(to: target, nonce: nonce)
        let fd = try connect(target, timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        let place = "\(target.host):\(target.port)"
        guard BlockingIO.writeAll(fd, request) else { throw Failure(reason: "sending to \(place): \(String(cString: strerror(errno)))") }
        return try response(from: place, path: target.path, timeoutSeconds: timeoutSeconds) { buffer in recv(fd, buffer.baseAddress, buffer.count, 0) }
    }

    /// `POST path` with `{"nonce": base64}`.
    static func request(to target: Target, nonce: [UInt8]) throws(Failure) -> [UInt8] {
        let body = Array("{\"nonce\": \"\(Base64.encodeToString(bytes: nonce))\"}".utf8)
        do {
            return try HeadWriter.request(method: "POST", target: target.path, headers: [
                ("Host", target.host.contains(":") ? "[\(target.host)]:\(target.port)" : "\(target.host):\(target.port)"),
                ("Content-Type", "application/json"), ("Content-Length", String(body.count)), ("Connection", "close"),
            ]) + body
        } catch {
            throw Failure(reason: "\(error)")
        }
    }

    /// The answer's body when it is 200; `receive` reads like recv(2) (0 at the end, -1 and
    /// errno on an error). Reads until the head and Content-Length's bytes are in (not until
    /// the end of input: a vsock hop in between may not pass a half-close on), or to the end
    /// without a length.
    static func response(from place: String, path: String, timeoutSeconds: Int,
                         receive: (UnsafeMutableRawBufferPointer) -> Int) throws(Failure) -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        var responseHead: ResponseHead?
        var bodyStart = 0
        let limit = AttestationDocument.maximumSize + 16384
        while true {
            if responseHead == nil, let end = RequestHead.endOfHead(in: received) {
                switch ResponseHead.parse(received[..<end]) {
                case .success(let parsed): responseHead = parsed
                case .failure(let rejection): throw Failure(reason: "\(place): \(rejection.reason)")
                }
                bodyStart = end
            }
            if let head = responseHead, let length = head.value(of: "Content-Length").flatMap({ Int($0) }), received.count - bodyStart >= length {
                received = Array(received.prefix(bodyStart + length))
                break
            }
            let count = buffer.withUnsafeMutableBytes { receive($0) }
            if count == 0 { break }
            guard count > 0 else {
                let code = errno
                if code == EINTR { continue }
                throw Failure(reason: "reading from \(place): \(code == EAGAIN ? "no answer within \(timeoutSeconds) s" : String(cString: strerror(code)))")
            }
            received += buffer[..<count]
            guard received.count <= limit else { throw Failure(reason: "\(place) answered more than \(limit) bytes") }
        }
        guard let responseHead else { throw Failure(reason: "\(place) answered no HTTP head (\(received.count) bytes)") }
        let document = Array(received[bodyStart...])
        if let length = responseHead.value(of: "Content-Length").flatMap({ Int($0) }), document.count < length {
            throw Failure(reason: "\(place) closed after \(document.count) of \(length) bytes")
        }
        guard responseHead.status == 200 else {
            let reason = String(decoding: document.prefix(300), as: UTF8.self).trimmingCharacters(in: [" ", "\n", "\r"])
            throw Failure(reason: "\(place)\(path) answered \(responseHead.status): \(reason)")
        }
        return document
    }

    /// The first address of `host` that accepts, with send and receive timeouts on the socket.
    static func connect(_ target: Target, timeoutSeconds: Int) throws(Failure) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(target.host, String(target.port), &hints, &list)
        guard status == 0, let list else {
            throw Failure(reason: "cannot resolve \(target.host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var lastError: Int32 = ECONNREFUSED
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let current = entry {
            entry = current.pointee.ai_next
            let fd = socket(current.pointee.ai_family, current.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), current.pointee.ai_protocol)
            guard fd >= 0 else { lastError = errno; continue }
            var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if Glibc.connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen) == 0 { return fd }
            lastError = errno
            close(fd)
        }
        throw Failure(reason: "connect to \(target.host):\(target.port): \(String(cString: strerror(lastError)))")
    }
}

private extension String {
    func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
