import Addressing
import Foundation
import Logging
import Testing
import TestSupport
@testable import TimeSync

/// The clock channel without touching this machine's clock: the wire format, the decision, and
/// the sampler against the real parent server and against lying, slow and broken stand-ins.
/// Nothing here calls ClockCorrection.apply (that runs only in the qemu guest).
@Suite struct TimeSyncTests {
    @Test func theWireFormatRoundTripsAndChecksEveryField() throws {
        let time = ClockWire.Timestamp(seconds: 1_800_000_000, nanoseconds: 999_999_999)
        let answer = ClockWire.answer(sequence: 7, time: time)
        #expect(answer.count == ClockWire.answerLength)
        #expect(try ClockWire.time(inAnswer: answer, to: 7).get() == time)
        #expect(ClockWire.sequence(ofRequest: ClockWire.request(sequence: 0x0102_0304_0506_0708)) == 0x0102_0304_0506_0708)
        #expect(throws: ClockWire.AnswerError.wrongSequence(expected: 8, got: 7)) { try ClockWire.time(inAnswer: answer, to: 8).get() }
        #expect(throws: ClockWire.AnswerError.wrongLength(19)) { try ClockWire.time(inAnswer: Array(answer.dropLast()), to: 7).get() }
        var badNanoseconds = answer
        badNanoseconds.replaceSubrange(16..<20, with: [0x3B, 0x9A, 0xCA, 0x00]) // 10^9
        #expect(throws: ClockWire.AnswerError.nanosecondsOutOfRange(1_000_000_000)) { try ClockWire.time(inAnswer: badNanoseconds, to: 7).get() }
    }

    @Test func smallOffsetsAreLeftAloneMiddleOnesSlewedLargeOnesStepped() {
        #expect(ClockCorrection.decide(offset: .microseconds(900), beforeTheApp: true) == .none)
        #expect(ClockCorrection.decide(offset: .microseconds(-900), beforeTheApp: false) == .none)
        #expect(ClockCorrection.decide(offset: .milliseconds(50), beforeTheApp: true) == .slew(.milliseconds(50)))
        #expect(ClockCorrection.decide(offset: .milliseconds(-150), beforeTheApp: true) == .step(.milliseconds(-150)))
        #expect(ClockCorrection.decide(offset: .milliseconds(-150), beforeTheApp: false) == .slew(.milliseconds(-150)))
        #expect(ClockCorrection.decide(offset: .seconds(3600), beforeTheApp: false) == .step(.seconds(3600)))
        // After the first sync a step beyond clock.max_step_seconds is refused; before the app, never.
        #expect(ClockCorrection.decide(offset: .seconds(86_400), beforeTheApp: false, maximumStep: .seconds(60)) == .refused(.seconds(86_400)))
        #expect(ClockCorrection.decide(offset: .seconds(-61), beforeTheApp: false, maximumStep: .seconds(60)) == .refused(.seconds(-61)))
        #expect(ClockCorrection.decide(offset: .seconds(59), beforeTheApp: false, maximumStep: .seconds(60)) == .step(.seconds(59)))
        #expect(ClockCorrection.decide(offset: .seconds(86_400), beforeTheApp: true, maximumStep: .seconds(60)) == .step(.seconds(86_400)))
    }

    @Test func offsetsAndRoundTripsReadWell() {
        #expect(format(.milliseconds(3_600_012)) == "3600.012 s")
        #expect(format(.milliseconds(-1500)) == "-1.500 s")
        #expect(format(.microseconds(12_340)) == "12.3 ms")
        #expect(format(.nanoseconds(85_400)) == "85 us")
    }

    @Test func theRealServerAgreesWithThisMachinesClock() throws {
        let directory = try TemporaryDirectory()
        let emulation = VsockEmulation(directory: directory.path, localCID: 3)
        let server = ClockServer(listen: .vsock(port: 9103), emulation: emulation, logger: Logger(label: "clock-test"))
        try server.start()
        defer { server.stop() }
        let measurement = try ClockSampler(parent: emulation.emulate(connectingTo: .vsock(cid: 3, port: 9103))).measure()
        #expect(measurement.taken == 5)
        #expect(measurement.kept >= 1)
        // One clock on both ends: the offset is what half a round trip can hide.
        #expect(abs(nanoseconds(measurement.offset)) <= nanoseconds(measurement.roundTrip), "\(measurement)")
    }

    @Test func aParentAnHourAheadIsMeasuredAsAnHour() throws {
        let parent = try StandInClock { sequence in
            let now = ClockServer.now()
            return ClockWire.answer(sequence: sequence, time: .init(seconds: now.seconds + 3600, nanoseconds: now.nanoseconds))
        }
        let measurement = try ClockSampler(parent: .unix(path: parent.path)).measure()
        #expect(abs(nanoseconds(measurement.offset) - 3_600_000_000_000) < 50_000_000, "\(measurement)")
        #expect(ClockCorrection.decide(offset: measurement.offset, beforeTheApp: true) == .step(measurement.offset))
    }

    @Test func slowAnswersAreDiscardedAndSilenceTimesOut() throws {
        let slow = try StandInClock(delay: .milliseconds(80)) { ClockWire.answer(sequence: $0, time: ClockServer.now()) }
        var sampler = ClockSampler(parent: .unix(path: slow.path))
        sampler.samples = 3
        #expect {
            try sampler.measure()
        } throws: { error in
            guard case ClockSampler.Failure.everySampleTooSlow(let best, let bound) = error else { return false }
            return best >= .milliseconds(80) && bound == .milliseconds(50)
        }
        let silent = try StandInClock(delay: .seconds(5)) { ClockWire.answer(sequence: $0, time: ClockServer.now()) }
        var impatient = ClockSampler(parent: .unix(path: silent.path))
        impatient.answerTimeout = .milliseconds(300)
        #expect(throws: ClockSampler.Failure.noAnswer(.unix(path: silent.path), within: .milliseconds(300))) { try impatient.measure() }
    }

    @Test func lyingOrBrokenAnswersAreRefused() throws {
        let wrongSequence = try StandInClock { ClockWire.answer(sequence: $0 + 1, time: ClockServer.now()) }
        #expect(throws: ClockSampler.Failure.badAnswer(.wrongSequence(expected: 1, got: 2))) {
            try ClockSampler(parent: .unix(path: wrongSequence.path)).measure()
        }
        let nineteenSeventy = try StandInClock { ClockWire.answer(sequence: $0, time: .init(seconds: 0, nanoseconds: 0)) }
        #expect(throws: ClockSampler.Failure.implausible(seconds: 0)) { try ClockSampler(parent: .unix(path: nineteenSeventy.path)).measure() }
        let hangsUp = try StandInClock { _ in [] }
        #expect(throws: ClockSampler.Failure.connectionLost(.unix(path: hangsUp.path), errno: 0)) { try ClockSampler(parent: .unix(path: hangsUp.path)).measure() }
        let nobody = "/nonexistent/clock"
        #expect(throws: ClockSampler.Failure.unreachable(.unix(path: nobody), errno: ENOENT)) { try ClockSampler(parent: .unix(path: nobody)).measure() }
    }

    /// The real server does not read from a peer that does not read its answers: it cannot be
    /// made to buffer without bound.
    @Test func aPeerThatNeverReadsCannotMakeTheServerBuffer() throws {
        let directory = try TemporaryDirectory()
        let emulation = VsockEmulation(directory: directory.path, localCID: 3)
        let server = ClockServer(listen: .vsock(port: 9103), emulation: emulation, logger: Logger(label: "clock-test"))
        try server.start()
        defer { server.stop() }
        let flood = try BlockingSocket.connect(unixPath: emulation.listenPath(port: 9103))
        _ = fcntl(flood.fd, F_SETFL, fcntl(flood.fd, F_GETFL) | O_NONBLOCK)
        let requests = [UInt8](repeating: 0, count: 1 << 16)
        var sent = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let count = requests.withUnsafeBytes { write(flood.fd, $0.baseAddress, $0.count) }
            if count > 0 { sent += count } else if errno == EAGAIN { break }
        }
        #expect(sent < 64 << 20, "the server kept reading (\(sent) bytes) from a peer that never reads")
        // Another enclave connection is still answered meanwhile.
        let measurement = try ClockSampler(parent: emulation.emulate(connectingTo: .vsock(cid: 3, port: 9103))).measure()
        #expect(measurement.kept >= 1)
    }
}

/// A clock server stand-in on a Unix socket: answers each request with `answer(sequence)` after
/// `delay`; an empty answer closes the connection.
private final class StandInClock: @unchecked Sendable {
    let path: String
    private let directory: TemporaryDirectory
    private let listener: BlockingSocket

    init(delay: Duration = .zero, answer: @escaping @Sendable (UInt64) -> [UInt8]) throws {
        directory = try TemporaryDirectory()
        path = directory.path + "/clock"
        listener = try BlockingSocket.listen(unixPath: path)
        let listener = listener.fd
        Thread.detachNewThread {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            defer { close(client) }
            var request = [UInt8](repeating: 0, count: ClockWire.requestLength)
            while read(client, &request, request.count) == request.count, let sequence = ClockWire.sequence(ofRequest: request) {
                if delay > .zero { usleep(UInt32(delay.components.seconds * 1_000_000 + delay.components.attoseconds / 1_000_000_000_000)) }
                let bytes = answer(sequence)
                guard !bytes.isEmpty, write(client, bytes, bytes.count) == bytes.count else { return }
            }
        }
    }

    deinit { shutdown(listener.fd, Int32(SHUT_RDWR)) } // wakes the accept; the socket closes itself
}
