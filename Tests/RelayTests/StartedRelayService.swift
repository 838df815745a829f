import Addressing
import Logging
@testable import Relay

extension RelayService {
    /// A service that is listening, as step 6 and `parent serve` have it once started;
    /// `threads` event loops' worth of splice threads (half as many, at least one).
    static func started(routes: [RelayRoute], emulation: VsockEmulation?, logger: Logger, threads: Int) throws -> RelayService {
        let service = RelayService(routes: routes, emulation: emulation, logger: logger,
                                   spliceThreads: spliceThreads(forEventLoops: threads))
        try service.start()
        return service
    }
}
