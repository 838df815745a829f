import NIOCore
import NIOPosix

/// The process's one event-loop group: every service, stream and timer of either half sets
/// its channels up here, one loop per core. SwiftNIO's own process-wide group is that group; it
/// is never shut down (a service stops by closing its channels), so a service that stops and a
/// test that makes a hundred of them cost no threads. Nothing may block on these loops:
/// blocking work (res_nsend, the NSM ioctl, the clock's samples) runs on thread pools.
public enum EventLoops {
    public static var shared: MultiThreadedEventLoopGroup { .singleton }

    /// One loop, for a service whose state lives on a single loop (the DNS stub's link to the
    /// parent, a stream's sender).
    public static func one() -> EventLoop { shared.next() }
}
