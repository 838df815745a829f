import Addressing
import BootConfig
import CNetlink
import Glibc

/// An address on an interface, as netlink reports and takes it.
public enum InterfaceAddress: Sendable, Hashable, CustomStringConvertible {
    case ipv4(IPv4Interface)
    case ipv6(bytes: [UInt8], prefixLength: Int)

    /// ::1/128, which `lo` carries when the kernel has IPv6.
    public static let ipv6Loopback = InterfaceAddress.ipv6(bytes: Array(repeating: 0, count: 15) + [1], prefixLength: 128)

    public var description: String {
        switch self {
        case .ipv4(let interface): return interface.description
        case .ipv6(let bytes, let prefix):
            return bytes == InterfaceAddress.ipv6Loopback.bytes ? "::1/\(prefix)" : "ipv6(\(bytes))/\(prefix)"
        }
    }

    var family: Int32 {
        if case .ipv4 = self { return AF_INET } else { return AF_INET6 }
    }

    var bytes: [UInt8] {
        switch self {
        case .ipv4(let interface): return interface.address.octets
        case .ipv6(let bytes, _): return bytes
        }
    }

    var prefixLength: Int {
        switch self {
        case .ipv4(let interface): return interface.prefixLength
        case .ipv6(_, let prefix): return prefix
        }
    }
}

/// The loopback interface, driven over rtnetlink with libnl: no `ip`, no ioctl.
public struct Loopback {
    public static let name = "lo"

    private let socket: RouteSocket

    public init() throws(NetlinkError) {
        socket = try RouteSocket()
    }

    /// The kernel's interface index of `lo`.
    public func index() throws(NetlinkError) -> Int32 {
        try withLink { rtnl_link_get_ifindex($0) }
    }

    public func isUp() throws(NetlinkError) -> Bool {
        try withLink { rtnl_link_get_flags($0) & UInt32(IFF_UP) != 0 }
    }

    /// Sets IFF_UP (a no-op when it is up already).
    public func bringUp() throws(NetlinkError) {
        guard let change = rtnl_link_alloc() else { throw NetlinkError(operation: "bringing lo up", code: NLE_NOMEM) }
        defer { rtnl_link_put(change) }
        rtnl_link_set_flags(change, UInt32(IFF_UP))
        let result: Int32 = try withLink { rtnl_link_change(socket.handle, $0, change, 0) }
        try socket.check(result, "bringing lo up")
    }

    /// Adds `address` to lo; returns false when the kernel already had it (not an error).
    @discardableResult
    public func add(_ address: InterfaceAddress) throws(NetlinkError) -> Bool {
        let index = try index()
        guard let request = rtnl_addr_alloc() else { throw NetlinkError(operation: "adding \(address) to lo", code: NLE_NOMEM) }
        defer { rtnl_addr_put(request) }
        let local = address.bytes.withUnsafeBytes { nl_addr_build(address.family, $0.baseAddress, $0.count) }
        guard let local else { throw NetlinkError(operation: "adding \(address) to lo", code: NLE_NOMEM) }
        defer { nl_addr_put(local) }
        nl_addr_set_prefixlen(local, Int32(address.prefixLength))
        rtnl_addr_set_ifindex(request, index)
        try socket.check(rtnl_addr_set_local(request, local), "adding \(address) to lo")
        rtnl_addr_set_prefixlen(request, Int32(address.prefixLength))
        let result = rtnl_addr_add(socket.handle, request, 0)
        if result == -NLE_EXIST { return false }
        try socket.check(result, "adding \(address) to lo")
        return true
    }

    /// `default dev lo src SOURCE` in the main table: a destination outside 127.0.0.0/8 then
    /// has a route (an enclave has no other interface), so the capture rule sees its packets.
    /// Returns false when a default route exists already.
    @discardableResult
    public func addDefaultRoute(source: IPv4Address) throws(NetlinkError) -> Bool {
        let index = try index()
        let operation = "adding the route default dev lo src \(source)"
        guard let route = rtnl_route_alloc(), let nexthop = rtnl_route_nh_alloc() else { throw NetlinkError(operation: operation, code: NLE_NOMEM) }
        defer { rtnl_route_put(route) }
        let any: [UInt8] = [0, 0, 0, 0]
        let destination = any.withUnsafeBytes { nl_addr_build(AF_INET, $0.baseAddress, 4) }
        let preferred = source.octets.withUnsafeBytes { nl_addr_build(AF_INET, $0.baseAddress, 4) }
        defer { nl_addr_put(destination); nl_addr_put(preferred) }
        guard let destination, let preferred else { throw NetlinkError(operation: operation, code: NLE_NOMEM) }
        nl_addr_set_prefixlen(destination, 0)
        rtnl_route_set_family(route, UInt8(AF_INET))
        rtnl_route_set_table(route, UInt32(RT_TABLE_MAIN.rawValue))
        rtnl_route_set_scope(route, UInt8(RT_SCOPE_LINK.rawValue))
        rtnl_route_set_protocol(route, UInt8(RTPROT_BOOT))
        rtnl_route_set_type(route, UInt8(RTN_UNICAST))
        try socket.check(rtnl_route_set_dst(route, destination), operation)
        try socket.check(rtnl_route_set_pref_src(route, preferred), operation)
        rtnl_route_nh_set_ifindex(nexthop, index)
        rtnl_route_add_nexthop(route, nexthop) // the route owns it from here
        let result = rtnl_route_add(socket.handle, route, NLM_F_EXCL)
        if result == -NLE_EXIST { return false }
        try socket.check(result, operation)
        return true
    }

    /// Every address the kernel has on lo, read back over netlink.
    public func addresses() throws(NetlinkError) -> [InterfaceAddress] {
        let index = try index()
        var cache: OpaquePointer?
        try socket.check(rtnl_addr_alloc_cache(socket.handle, &cache), "reading the addresses of lo")
        defer { nl_cache_free(cache) }
        var result: [InterfaceAddress] = []
        var object = nl_cache_get_first(cache)
        while let current = object {
            let entry = current
            if rtnl_addr_get_ifindex(entry) == index, let local = rtnl_addr_get_local(entry),
               let raw = nl_addr_get_binary_addr(local) {
                let bytes = Array(UnsafeRawBufferPointer(start: raw, count: Int(nl_addr_get_len(local))))
                let prefix = Int(rtnl_addr_get_prefixlen(entry))
                switch rtnl_addr_get_family(entry) {
                case AF_INET where bytes.count == 4:
                    let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    result.append(.ipv4(IPv4Interface(address: IPv4Address(value), prefixLength: prefix)))
                case AF_INET6 where bytes.count == 16:
                    result.append(.ipv6(bytes: bytes, prefixLength: prefix))
                default:
                    break
                }
            }
            object = nl_cache_get_next(current)
        }
        return result
    }

    /// Fetches lo from the kernel for the length of `body`.
    private func withLink<T>(_ body: (OpaquePointer) -> T) throws(NetlinkError) -> T {
        var link: OpaquePointer?
        try socket.check(rtnl_link_get_kernel(socket.handle, 0, Self.name, &link), "looking up lo")
        guard let link else { throw NetlinkError(operation: "looking up lo", code: NLE_OBJ_NOTFOUND) }
        defer { rtnl_link_put(link) }
        return body(link)
    }
}

/// True when the kernel has IPv6 (in this network namespace).
public var kernelHasIPv6: Bool { access("/proc/net/if_inet6", F_OK) == 0 }
