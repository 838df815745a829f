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

/// A network interface (`lo`, or egress.udp's TUN device), driven over rtnetlink with libnl:
/// no `ip`, no ioctl.
public struct NetworkInterface {
    public let name: String
    private let socket: RouteSocket

    public init(named name: String) throws(NetlinkError) {
        self.name = name
        socket = try RouteSocket()
    }

    /// `lo`.
    public static func loopback() throws(NetlinkError) -> NetworkInterface { try NetworkInterface(named: "lo") }

    /// The kernel's interface index.
    public func index() throws(NetlinkError) -> Int32 {
        try withLink { rtnl_link_get_ifindex($0) }
    }

    public func isUp() throws(NetlinkError) -> Bool {
        try withLink { rtnl_link_get_flags($0) & UInt32(IFF_UP) != 0 }
    }

    public func mtu() throws(NetlinkError) -> Int {
        try withLink { Int(rtnl_link_get_mtu($0)) }
    }

    /// Packets the kernel dropped on their way out through this interface (a TUN device's
    /// queue full because its reader fell behind).
    public func transmitDrops() throws(NetlinkError) -> UInt64 {
        try withLink { rtnl_link_get_stat($0, RTNL_LINK_TX_DROPPED) }
    }

    /// Sets IFF_UP, and the MTU when one is given. When the link is up already (with that MTU)
    /// it sends nothing: the kernel wants CAP_NET_ADMIN for any link change, even one that
    /// changes nothing, and a container's init often runs without it on an `lo` that is up.
    public func bringUp(mtu: Int? = nil) throws(NetlinkError) {
        if try isUp() {
            if mtu == nil { return }
            if let mtu, try self.mtu() == mtu { return }
        }
        let operation = "bringing \(name) up" + (mtu.map { " with mtu \($0)" } ?? "")
        guard let change = rtnl_link_alloc() else { throw NetlinkError(operation: operation, code: NLE_NOMEM) }
        defer { rtnl_link_put(change) }
        rtnl_link_set_flags(change, UInt32(IFF_UP))
        if let mtu { rtnl_link_set_mtu(change, UInt32(mtu)) }
        let result: Int32 = try withLink { rtnl_link_change(socket.handle, $0, change, 0) }
        try socket.check(result, operation)
    }

    /// Adds `address`; returns false when the kernel already had it (not an error).
    @discardableResult
    public func add(_ address: InterfaceAddress) throws(NetlinkError) -> Bool {
        let index = try index()
        let operation = "adding \(address) to \(name)"
        guard let request = rtnl_addr_alloc() else { throw NetlinkError(operation: operation, code: NLE_NOMEM) }
        defer { rtnl_addr_put(request) }
        let local = address.bytes.withUnsafeBytes { nl_addr_build(address.family, $0.baseAddress, $0.count) }
        guard let local else { throw NetlinkError(operation: operation, code: NLE_NOMEM) }
        defer { nl_addr_put(local) }
        nl_addr_set_prefixlen(local, Int32(address.prefixLength))
        rtnl_addr_set_ifindex(request, index)
        try socket.check(rtnl_addr_set_local(request, local), operation)
        rtnl_addr_set_prefixlen(request, Int32(address.prefixLength))
        let result = rtnl_addr_add(socket.handle, request, 0)
        if result == -NLE_EXIST { return false }
        try socket.check(result, operation)
        return true
    }

    /// `default dev NAME src SOURCE` in the main table: a destination outside 127.0.0.0/8 then
    /// has a route (an enclave has no other interface), so the capture sees its packets.
    /// Without `replacing`, returns false when a default route exists already; with it, the
    /// default route becomes this one whatever was there (egress.udp's TUN device takes over
    /// from a `default dev lo` an earlier boot without it left).
    @discardableResult
    public func addDefaultRoute(source: IPv4Address, replacing: Bool = false) throws(NetlinkError) -> Bool {
        let index = try index()
        let operation = "adding the route default dev \(name) src \(source)"
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
        let result = rtnl_route_add(socket.handle, route, replacing ? NLM_F_REPLACE | NLM_F_CREATE : NLM_F_EXCL)
        if result == -NLE_EXIST { return false }
        try socket.check(result, operation)
        return true
    }

    /// Every address the kernel has on this interface, read back over netlink.
    public func addresses() throws(NetlinkError) -> [InterfaceAddress] {
        let index = try index()
        var cache: OpaquePointer?
        try socket.check(rtnl_addr_alloc_cache(socket.handle, &cache), "reading the addresses of \(name)")
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

    /// Fetches the interface from the kernel for the length of `body`.
    private func withLink<T>(_ body: (OpaquePointer) -> T) throws(NetlinkError) -> T {
        var link: OpaquePointer?
        try socket.check(rtnl_link_get_kernel(socket.handle, 0, name, &link), "looking up \(name)")
        guard let link else { throw NetlinkError(operation: "looking up \(name)", code: NLE_OBJ_NOTFOUND) }
        defer { rtnl_link_put(link) }
        return body(link)
    }
}

/// True when the kernel has IPv6 (in this network namespace).
public var kernelHasIPv6: Bool { access("/proc/net/if_inet6", F_OK) == 0 }
