import CSupport
import Glibc

/// A place bytes can be sent to or accepted from, written `vsock:CID:PORT`, `unix:PATH` or
/// `tcp:HOST:PORT` wherever a free endpoint is needed (docs/design.md, 4. Vsock emulation).
public enum Endpoint: Sendable, Hashable, CustomStringConvertible {
    case vsock(cid: UInt32, port: UInt32)
    case unix(path: String)
    case tcp(host: String, port: UInt16)

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case unknownScheme(String)
        case malformed(String, expected: String)

        public var description: String {
            switch self {
            case .unknownScheme(let text): return "\"\(text)\" does not start with vsock:, unix: or tcp:"
            case .malformed(let text, let expected): return "\"\(text)\" is not \(expected)"
            }
        }
    }

    public static func parse(_ text: String) -> Result<Endpoint, ParseError> {
        if let rest = text.dropPrefix("vsock:") {
            let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let cid = UInt32(parts[0]), let port = UInt32(parts[1]),
                  VsockLimits.cids.contains(Int64(cid)), VsockLimits.ports.contains(Int64(port)) else {
                return .failure(.malformed(text, expected: "vsock:CID:PORT (CID and port 1-4294967294)"))
            }
            return .success(.vsock(cid: cid, port: port))
        }
        if let rest = text.dropPrefix("unix:") {
            guard rest.hasPrefix("/") || rest.hasPrefix("."), !rest.utf8.contains(0) else {
                return .failure(.malformed(text, expected: "unix:PATH with a non-empty path"))
            }
            return .success(.unix(path: String(rest)))
        }
        if let rest = text.dropPrefix("tcp:") {
            guard case .success(let hostPort) = HostPort.parse(String(rest)) else {
                return .failure(.malformed(text, expected: "tcp:HOST:PORT (IPv6 in brackets)"))
            }
            return .success(.tcp(host: hostPort.host, port: hostPort.port))
        }
        return .failure(.unknownScheme(text))
    }

    public var description: String {
        switch self {
        case .vsock(let cid, let port): return "vsock:\(cid):\(port)"
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return "tcp:" + HostPort(host: host, port: port).description
        }
    }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}

extension Endpoint {
    /// A blocking connect for the few callers that run before or outside an event loop (the
    /// heartbeat): a socket descriptor, or -1 with errno set. TCP is not offered here.
    /// `emulatedSourceCID`: a Unix socket standing in for vsock connects from an address that
    /// names this CID, so that a peer that serves only one CID can tell (real vsock carries it).
    public func connectBlocking(timeoutMilliseconds: Int32, emulatedSourceCID: UInt32? = nil) -> Int32 {
        switch self {
        case .vsock(let cid, let port): return ei_connect_vsock(cid, port, timeoutMilliseconds)
        case .unix(let path):
            if let emulatedSourceCID { return ei_connect_unix_as_cid(path, emulatedSourceCID, timeoutMilliseconds) }
            return ei_connect_unix(path, timeoutMilliseconds)
        case .tcp:
            errno = EAFNOSUPPORT
            return -1
        }
    }
}
