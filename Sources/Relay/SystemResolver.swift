import Addressing
import CSupport
import Glibc

/// Name resolution for the parent half with glibc's own resolver (/etc/hosts, then DNS per
/// /etc/resolv.conf), called for every new connection so that DNS changes are followed
/// (caching, and so TTLs, is the system's: systemd-resolved, nscd or the VPC resolver).
///
/// The binary is static: glibc cannot load NSS modules into it safely, so lookups are
/// pinned to the two services built into libc ("files dns"), whatever nsswitch.conf names.
public enum SystemResolver {
    private static let nssPinned: Void = { ei_use_builtin_host_lookup() }()

    /// Every address of `host` (a name or a literal), in the resolver's order, without repeats.
    public static func resolve(host: String, port: UInt16, family: AddressFamily) throws -> [Endpoint] {
        _ = nssPinned
        var hints = addrinfo()
        hints.ai_family = family.socketFamily
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else {
            let reason = status == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(status))
            throw RelayError.cannotResolve(host: host, reason: reason)
        }
        defer { freeaddrinfo(list) }
        var endpoints: [Endpoint] = []
        var entry = list
        while let current = entry {
            if let text = numericHost(current.pointee), !endpoints.contains(.tcp(host: text, port: port)) {
                endpoints.append(.tcp(host: text, port: port))
            }
            entry = current.pointee.ai_next
        }
        guard !endpoints.isEmpty else {
            throw RelayError.cannotResolve(host: host, reason: "no \(family == .any ? "" : "\(family) ")addresses")
        }
        return endpoints
    }

    private static func numericHost(_ info: addrinfo) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let written: UnsafePointer<CChar>?
        switch info.ai_family {
        case AF_INET:
            written = info.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                withUnsafePointer(to: address.pointee.sin_addr) { inet_ntop(AF_INET, $0, &buffer, socklen_t(buffer.count)) }
            }
        case AF_INET6:
            written = info.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                withUnsafePointer(to: address.pointee.sin6_addr) { inet_ntop(AF_INET6, $0, &buffer, socklen_t(buffer.count)) }
            }
        default:
            written = nil
        }
        return written.map { String(cString: $0) }
    }
}
