/// The wait before restart N: 100 ms, doubling each time, at most 10 s.
public struct Backoff: Sendable, Equatable {
    public static let initial: Duration = .milliseconds(100)
    public static let maximum: Duration = .seconds(10)

    public private(set) var next: Duration = Backoff.initial

    public init() {}

    /// The delay to wait now; the following one doubles.
    public mutating func take() -> Duration {
        let delay = next
        next = min(next * 2, Self.maximum)
        return delay
    }
}
