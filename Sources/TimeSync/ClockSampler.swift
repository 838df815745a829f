import Addressing
import Glibc

/// The enclave's end of `clock`: asks the parent for its CLOCK_REALTIME a few times over one
/// connection and keeps the sample with the shortest round trip (NTP's clock filter, in
/// miniature). The offset is the parent's time minus the local time at the round trip's
/// midpoint, so it is off by at most half the round trip; samples whose round trip exceeds
/// `maximumRoundTrip` are discarded. Blocking, with a deadline on every wait: it runs before the
/// app (step 3) and then on the keeper's own thread.
public struct ClockSampler: Sendable {
    /// Where the parent serves its clock (already emulated when the emulation is on).
    public let parent: Endpoint
    public var samples = 5
    public var maximumRoundTrip: Duration = .milliseconds(50)
    public var answerTimeout: Duration = .seconds(1)
    public var connectTimeout: Duration = .seconds(1)

    public init(parent: Endpoint) {
        self.parent = parent
    }

    /// Before this the parent's clock is surely wrong (2024-01-01): never step to it.
    public static let earliestPlausible: Int64 = 1_704_067_200
    /// After this, nanoseconds since the epoch no longer fit an Int64 (2255).
    public static let latestPlausible: Int64 = 9_000_000_000

    public struct Measurement: Sendable, Equatable {
        /// The parent's clock minus ours (positive: ours is behind).
        public var offset: Duration
        /// Of the sample kept.
        public var roundTrip: Duration
        public var kept: Int
        public var taken: Int
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unreachable(Endpoint, errno: Int32)
        case noAnswer(Endpoint, within: Duration)
        case connectionLost(Endpoint, errno: Int32)
        case badAnswer(ClockWire.AnswerError)
        case implausible(seconds: Int64)
        case everySampleTooSlow(best: Duration, bound: Duration)

        public var description: String {
            switch self {
            case .unreachable(let endpoint, let code): return "the parent's clock at \(endpoint) is unreachable: \(String(cString: strerror(code)))"
            case .noAnswer(let endpoint, let within): return "the parent's clock at \(endpoint) did not answer within \(format(within))"
            case .connectionLost(let endpoint, let code):
                return "the parent's clock at \(endpoint) closed the connection" + (code == 0 ? "" : ": \(String(cString: strerror(code)))")
            case .badAnswer(let error): return "the parent's clock sent \(error)"
            case .implausible(let seconds): return "the parent's clock says \(seconds) s since 1970, before 2024 or past 2255: not believed"
            case .everySampleTooSlow(let best, let bound):
                return "every sample's round trip exceeded \(format(bound)) (best \(format(best))): none is precise enough"
            }
        }
    }

    public func measure() throws(Failure) -> Measurement {
        let fd = parent.connectBlocking(timeoutMilliseconds: Int32(milliseconds(connectTimeout)))
        guard fd >= 0 else { throw .unreachable(parent, errno: errno) }
        defer { close(fd) }
        let clock = ContinuousClock()
        var best: (offset: Int64, roundTrip: Duration)?
        var fastest: Duration?
        var kept = 0
        for sequence in 1...UInt64(samples) {
            let request = ClockWire.request(sequence: sequence)
            let localBefore = Self.realtimeNanoseconds()
            let sent = clock.now
            guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
                throw .connectionLost(parent, errno: errno)
            }
            let answer = try read(ClockWire.answerLength, from: fd, until: sent + answerTimeout, clock: clock)
            let roundTrip = clock.now - sent
            let parentTime: ClockWire.Timestamp
            switch ClockWire.time(inAnswer: answer, to: sequence) {
            case .success(let time): parentTime = time
            case .failure(let error): throw .badAnswer(error)
            }
            guard (Self.earliestPlausible..<Self.latestPlausible).contains(parentTime.seconds) else {
                throw .implausible(seconds: parentTime.seconds)
            }
            fastest = min(fastest ?? roundTrip, roundTrip)
            guard roundTrip <= maximumRoundTrip else { continue }
            kept += 1
            // The local time at the midpoint: the realtime read before sending plus half the
            // monotonic round trip (a realtime read after could be disturbed by a step meanwhile).
            let midpoint = localBefore + nanoseconds(roundTrip) / 2
            let offset = parentTime.totalNanoseconds - midpoint
            if best == nil || roundTrip < best!.roundTrip { best = (offset, roundTrip) }
        }
        guard let best else { throw .everySampleTooSlow(best: fastest ?? .zero, bound: maximumRoundTrip) }
        return Measurement(offset: .nanoseconds(best.offset), roundTrip: best.roundTrip, kept: kept, taken: samples)
    }

    private func read(_ count: Int, from fd: Int32, until deadline: ContinuousClock.Instant, clock: ContinuousClock) throws(Failure) -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < count {
            let left = deadline - clock.now
            guard left > .zero else { throw .noAnswer(parent, within: answerTimeout) }
            var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&waiting, 1, Int32(max(1, milliseconds(left))))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: count - bytes.count)
            let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw .connectionLost(parent, errno: got == 0 ? 0 : errno) }
            bytes += chunk[0..<got]
        }
        return bytes
    }

    static func realtimeNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }
}

func nanoseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
}

func milliseconds(_ duration: Duration) -> Int64 { nanoseconds(duration) / 1_000_000 }

/// "3600.012 s", "12.3 ms", "85 us": how the console shows offsets and round trips.
public func format(_ duration: Duration) -> String {
    let ns = nanoseconds(duration)
    let sign = ns < 0 ? "-" : ""
    let magnitude = ns.magnitude
    if magnitude >= 1_000_000_000 {
        let millis = (magnitude + 500_000) / 1_000_000
        return "\(sign)\(millis / 1000).\(String(millis % 1000).leftPadded(to: 3)) s"
    }
    if magnitude >= 1_000_000 {
        let tenths = (magnitude + 50_000) / 100_000
        return "\(sign)\(tenths / 10).\(tenths % 10) ms"
    }
    return "\(sign)\((magnitude + 500) / 1000) us"
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
