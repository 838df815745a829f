import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The process's one pool of threads for blocking work, beside its one event-loop group: the
/// parent's lookups (getaddrinfo, res_nsend, nitro-cli), KMS calls of the SDK endpoint, the
/// credentials server's accept loop and answers, the clock's samples, the NSM's ioctls. Nothing
/// blocks an event loop; everything that blocks runs here. Started once, never shut down (a
/// service stops by not submitting more), so services and tests that make many cost no threads.
///
/// Sized for the slowest work that shares it: a res_nsend that waits out its resolvers' timeouts
/// holds a thread for seconds, so a burst of them must not leave the NSM or a KMS call waiting.
/// Each service takes its share through a `Lane` of a fixed width.
public enum BlockingPool {
    public static let threadCount = 32

    public static let shared: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: threadCount)
        pool.start()
        return pool
    }()

    /// One service's share of the pool: at most `width` of its jobs run at once, the rest wait
    /// in order in the lane (one device, one clock: width 1; the DNS forwarder's queries: 8).
    /// A lane holds no thread while it is empty, and the widths of every lane of a process add
    /// up to less than the pool, so a burst of one service's slow work (resolvers that do not
    /// answer) leaves the others their threads.
    public final class Lane: Sendable {
        private struct State {
            var waiting: [@Sendable () -> Void] = []
            var running = 0
        }
        public let width: Int
        private let state = NIOLockedValueBox(State())

        public init(width: Int = 1) {
            precondition(width >= 1, "a lane runs at least one job at a time")
            self.width = width
        }

        /// Runs `job` once fewer than `width` jobs of this lane run, in the order submitted.
        public func submit(_ job: @escaping @Sendable () -> Void) {
            let start = state.withLockedValue { state -> Bool in
                state.waiting.append(job)
                guard state.running < width else { return false }
                state.running += 1
                return true
            }
            if start { BlockingPool.shared.submit { [self] _ in drain() } }
        }

        /// `body` in the lane; its result on `eventLoop`.
        public func run<T: Sendable>(on eventLoop: EventLoop, _ body: @escaping @Sendable () throws -> T) -> EventLoopFuture<T> {
            let promise = eventLoop.makePromise(of: T.self)
            submit { promise.completeWith(Result { try body() }) }
            return promise.futureResult
        }

        private func drain() {
            while let job = state.withLockedValue({ state -> (@Sendable () -> Void)? in
                guard !state.waiting.isEmpty else {
                    state.running -= 1
                    return nil
                }
                return state.waiting.removeFirst()
            }) {
                job()
            }
        }
    }
}
