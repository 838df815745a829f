/// The clock channel's wire format, both ends. Binary and fixed-size, so that neither end ever
/// buffers more than one message:
///
///     enclave -> parent   8 bytes   a sequence number (big-endian)
///     parent -> enclave  20 bytes   the same sequence number, then the parent's CLOCK_REALTIME:
///                                   seconds (int64, big-endian), nanoseconds (uint32, < 10^9)
///
/// One connection carries several samples in turn (request, answer, request, ...).
public enum ClockWire {
    public static let requestLength = 8
    public static let answerLength = 20

    /// A point in CLOCK_REALTIME, as the wire carries it.
    public struct Timestamp: Sendable, Equatable {
        public var seconds: Int64
        public var nanoseconds: UInt32

        public init(seconds: Int64, nanoseconds: UInt32) {
            self.seconds = seconds
            self.nanoseconds = nanoseconds
        }

        /// Nanoseconds since the epoch (fits an Int64 until the year 2262).
        public var totalNanoseconds: Int64 { seconds &* 1_000_000_000 &+ Int64(nanoseconds) }
    }

    public static func request(sequence: UInt64) -> [UInt8] {
        bigEndianBytes(sequence)
    }

    public static func sequence(ofRequest bytes: some Collection<UInt8>) -> UInt64? {
        guard bytes.count == requestLength else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    public static func answer(sequence: UInt64, time: Timestamp) -> [UInt8] {
        bigEndianBytes(sequence) + bigEndianBytes(UInt64(bitPattern: time.seconds)) + bigEndianBytes(time.nanoseconds)
    }

    /// Why an answer is refused: the parent is untrusted, so every field is checked.
    public enum AnswerError: Error, Equatable, CustomStringConvertible {
        case wrongLength(Int)
        case wrongSequence(expected: UInt64, got: UInt64)
        case nanosecondsOutOfRange(UInt32)

        public var description: String {
            switch self {
            case .wrongLength(let count): return "an answer of \(count) bytes, not \(ClockWire.answerLength)"
            case .wrongSequence(let expected, let got): return "an answer to request \(got), not to \(expected)"
            case .nanosecondsOutOfRange(let value): return "nanoseconds \(value) out of range"
            }
        }
    }

    public static func time(inAnswer bytes: [UInt8], to sequence: UInt64) -> Result<Timestamp, AnswerError> {
        guard bytes.count == answerLength else { return .failure(.wrongLength(bytes.count)) }
        let echoed = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard echoed == sequence else { return .failure(.wrongSequence(expected: sequence, got: echoed)) }
        let seconds = Int64(bitPattern: bytes[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let nanoseconds = bytes[16..<20].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard nanoseconds < 1_000_000_000 else { return .failure(.nanosecondsOutOfRange(nanoseconds)) }
        return .success(Timestamp(seconds: seconds, nanoseconds: nanoseconds))
    }

    private static func bigEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<T.bitWidth / 8).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }
}
