import Glibc

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

    /// This process's emulation: ENCLAVE_INIT_VSOCK_DIR and ENCLAVE_INIT_VSOCK_CID as set when
    /// it started; nil when emulation is off. `defaultCID` is the side's own (enclave 16, parent 3).
    public static func fromEnvironment(defaultCID: UInt32) -> VsockEmulation? {
        let names = ["ENCLAVE_INIT_VSOCK_DIR", "ENCLAVE_INIT_VSOCK_CID"]
        let environment = names.reduce(into: [String: String]()) { result, name in
            result[name] = getenv(name).map { String(cString: $0) }
        }
        return VsockEmulation(environment: environment, defaultCID: defaultCID)
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
