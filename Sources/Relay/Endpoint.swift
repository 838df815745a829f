import BootConfig

/// A place bytes can be sent to or accepted from, written `vsock:CID:PORT`, `unix:PATH` or
/// `tcp:HOST:PORT` wherever a free endpoint is needed (DESIGN.md section 5).
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

/// The Unix-socket stand-in for vsock used by tests, the demo and laptops: with
/// ENCLAVE_INIT_VSOCK_DIR=DIR, vsock (cid, port) is the socket DIR/<cid>-<port>.
public struct VsockEmulation: Sendable, Equatable {
    public var directory: String
    /// The CID this side listens as ($ENCLAVE_INIT_VSOCK_CID; enclave 16, parent 3).
    public var localCID: UInt32

    public static let defaultEnclaveCID: UInt32 = 16
    public static let defaultParentCID: UInt32 = 3

    public init(directory: String, localCID: UInt32) {
        self.directory = directory
        self.localCID = localCID
    }

    /// Reads ENCLAVE_INIT_VSOCK_DIR and ENCLAVE_INIT_VSOCK_CID; nil when emulation is off.
    public init?(environment: [String: String], defaultCID: UInt32) {
        guard let directory = environment["ENCLAVE_INIT_VSOCK_DIR"], !directory.isEmpty else { return nil }
        self.directory = directory
        self.localCID = environment["ENCLAVE_INIT_VSOCK_CID"].flatMap(UInt32.init) ?? defaultCID
    }

    /// Where a connection to (cid, port) goes.
    public func connectPath(cid: UInt32, port: UInt32) -> String { "\(directory)/\(cid)-\(port)" }
    /// Where a listener on `port` binds.
    public func listenPath(port: UInt32) -> String { connectPath(cid: localCID, port: port) }

    /// The endpoint a vsock endpoint becomes under emulation (others are unchanged).
    public func emulate(connectingTo endpoint: Endpoint) -> Endpoint {
        guard case .vsock(let cid, let port) = endpoint else { return endpoint }
        return .unix(path: connectPath(cid: cid, port: port))
    }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}
