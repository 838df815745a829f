import CNetlink
import Glibc

/// The libnl library linked into this binary.
public enum Netlink {
    public static var libraryVersion: String { "\(nl_ver_maj).\(nl_ver_min).\(nl_ver_mic)" }
}

/// A libnl error: what was being done, libnl's message and code.
public struct NetlinkError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    /// A (positive) NLE_* code.
    public var code: Int32

    public var description: String {
        "\(operation): \(String(cString: nl_geterror(code))) (libnl error \(code))"
    }

    /// The kernel refused for want of a capability (EPERM: no CAP_NET_ADMIN).
    public var isPermissionDenied: Bool { code == NLE_PERM }
}

/// A NETLINK_ROUTE socket, connected for the life of the value.
final class RouteSocket {
    let handle: OpaquePointer

    init() throws(NetlinkError) {
        guard let socket = nl_socket_alloc() else { throw NetlinkError(operation: "allocating a netlink socket", code: NLE_NOMEM) }
        let result = nl_connect(socket, NETLINK_ROUTE)
        guard result >= 0 else {
            nl_socket_free(socket)
            throw NetlinkError(operation: "connecting to NETLINK_ROUTE", code: -result)
        }
        handle = socket
    }

    deinit { nl_socket_free(handle) }

    /// Turns a libnl return value into an error for `operation`.
    func check(_ result: Int32, _ operation: @autoclosure () -> String) throws(NetlinkError) {
        if result < 0 { throw NetlinkError(operation: operation(), code: -result) }
    }
}
