import Foundation

/// Plain blocking TCP and Unix sockets for driving the relay from tests: the peers at each end
/// are ordinary programs, not SwiftNIO.
public final class BlockingSocket: @unchecked Sendable {
    public let fd: Int32

    /// Close-on-exec: the sandbox tests spawn processes from this same process, and a socket
    /// inherited by one of them stays open (a "closed" port keeps listening, an EOF never comes).
    /// Every socket gives up after 30 s without progress (accept and read honour SO_RCVTIMEO),
    /// so that a relay bug fails a test instead of hanging the whole run.
    init(fd: Int32) {
        self.fd = fd
        setReceiveTimeout(seconds: 30)
    }

    deinit { close(fd) }

    public enum Failure: Error { case system(String, Int32) }

    private static func check(_ result: Int32, _ what: String) throws -> Int32 {
        guard result >= 0 else { throw Failure.system(what, errno) }
        return result
    }

    /// A connected Unix socket pair: this end blocking, the other non-blocking and raw, for the
    /// code under test to own (and close).
    public static func pair() throws -> (BlockingSocket, Int32) {
        var ends: [Int32] = [-1, -1]
        _ = try check(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends), "socketpair")
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        return (BlockingSocket(fd: ends[0]), ends[1])
    }

    /// A TCP listener on 127.0.0.1 with an ephemeral port.
    public static func listen(backlog: Int32 = 128) throws -> (BlockingSocket, UInt16) {
        let socket = BlockingSocket(fd: try check(Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), "socket"))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = try check(withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }, "bind")
        _ = try check(Foundation.listen(socket.fd, backlog), "listen")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = try check(withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket.fd, $0, &length) } }, "getsockname")
        return (socket, UInt16(bigEndian: address.sin_port))
    }

    /// A port of 127.0.0.1 that was free a moment ago (a listener bound it, then closed): for a
    /// server a test starts that cannot be told to take port 0.
    public static func freePort() throws -> UInt16 {
        let (probe, port) = try listen()
        _ = consume probe
        return port
    }

    /// - Parameter wait: false starts the connect and returns at once (EINPROGRESS is fine).
    public static func connect(port: UInt16, host: String = "127.0.0.1", wait: Bool = true) throws -> BlockingSocket {
        let socket = BlockingSocket(fd: try check(Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), "socket"))
        if !wait { _ = fcntl(socket.fd, F_SETFL, fcntl(socket.fd, F_GETFL) | O_NONBLOCK) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if result < 0 && !(errno == EINPROGRESS && !wait) { throw Failure.system("connect", errno) }
        return socket
    }

    /// A Unix stream listener at `path` (a stand-in for a vsock listener under the emulation).
    public static func listen(unixPath path: String, backlog: Int32 = 16) throws -> BlockingSocket {
        let socket = BlockingSocket(fd: try check(Foundation.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), "socket"))
        var address = try unixAddress(path)
        _ = try check(withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }, "bind")
        _ = try check(Foundation.listen(socket.fd, backlog), "listen")
        return socket
    }

    private static func unixAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Failure.system("path too long", ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        return address
    }

    /// A connected Unix stream socket (the vsock emulation's DIR/<cid>-<port>).
    public static func connect(unixPath path: String) throws -> BlockingSocket {
        let socket = BlockingSocket(fd: try check(Foundation.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0), "socket"))
        var address = try unixAddress(path)
        let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        if result < 0 { throw Failure.system("connect", errno) }
        return socket
    }

    public func accept() throws -> BlockingSocket {
        let accepted = try Self.check(Foundation.accept(fd, nil, nil), "accept")
        _ = fcntl(accepted, F_SETFD, FD_CLOEXEC) // accept4 is not imported; the window is tiny
        return BlockingSocket(fd: accepted)
    }

    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let count = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw Failure.system("write", errno) }
            offset += count
        }
    }

    public func writeAll(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try writeAll($0) } }

    /// Up to `count` bytes; empty at EOF.
    public func read(upTo count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let got = Foundation.read(fd, &buffer, count)
            if got < 0 && errno == EINTR { continue }
            guard got >= 0 else { throw Failure.system("read", errno) }
            return Array(buffer[..<got])
        }
    }

    /// Everything until EOF.
    public func readToEnd() throws -> [UInt8] {
        var all: [UInt8] = []
        while true {
            let chunk = try read(upTo: 65536)
            if chunk.isEmpty { return all }
            all += chunk
        }
    }

    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    /// Closing now sends a reset instead of a FIN.
    public func resetOnClose() {
        var value = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size))
    }

    public func setReceiveTimeout(seconds: Int) {
        var value = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// A deterministic pseudo-random byte stream: the sender writes it, the receiver checks every
/// byte it gets against its own copy (memcmp per chunk: exact, and fast even in debug builds).
public struct PatternStream {
    public static let blockSize = 1 << 16
    private var state: UInt64
    private var block = [UInt8](repeating: 0, count: PatternStream.blockSize)
    private var offset = PatternStream.blockSize
    public private(set) var position = 0

    public init(seed: UInt64) { state = seed }

    /// The next `count` bytes of the stream.
    public mutating func next(_ count: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count)
        while out.count < count {
            if offset == Self.blockSize { refill() }
            let take = min(count - out.count, Self.blockSize - offset)
            out += block[offset..<offset + take]
            offset += take
        }
        position += count
        return out
    }

    /// True when `bytes` are exactly the next bytes of the stream.
    public mutating func matches(_ bytes: [UInt8]) -> Bool {
        var checked = 0
        while checked < bytes.count {
            if offset == Self.blockSize { refill() }
            let take = min(bytes.count - checked, Self.blockSize - offset)
            let same = bytes.withUnsafeBytes { received in
                block.withUnsafeBytes { expected in
                    memcmp(received.baseAddress! + checked, expected.baseAddress! + offset, take) == 0
                }
            }
            guard same else { return false }
            offset += take
            checked += take
        }
        position += bytes.count
        return true
    }

    private mutating func refill() {
        block.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for index in words.indices {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                words[index] = state
            }
        }
        offset = 0
    }
}
