import BootConfig
import NIOCore
@testable import Streams
import Testing

/// Every status event goes out as a JSON line and comes back as the same typed value at the
/// parent: encoded and decoded from one type, so a renamed event or field fails here instead of
/// silently breaking `parent --exit-with-enclave`.
@Suite struct StatusEventTests {
    /// One example of each event, the app's exit both ways.
    static let examples: [StatusEvent] = [
        .configOK(boot: "6f1c2a"),
        .networkUp,
        .proxiesListening(listeners: 3),
        .mounted(mounted: 1, configured: 2),
        .appStarted(pid: 42),
        .appReady(pid: 42, probe: "tcp 127.0.0.1:8080", afterMilliseconds: 130),
        .appNotReady(pid: 42, probe: "file /run/ready", timeoutSeconds: 30),
        .appExited(pid: 42, ending: .code(3), exitCode: 3, restarting: true),
        .appExited(pid: 42, ending: .signal(15, name: "SIGTERM"), exitCode: 143, restarting: false),
        .restarting(restart: 2, limit: 5, delayMilliseconds: 400),
        .stopping(by: .signal("SIGTERM")),
        .stopping(by: .parent),
        .bootFailed(step: "network", error: "lo: Operation not permitted", exitCode: nil),
        .bootFailed(step: "app", error: "cannot run /app: No such file or directory", exitCode: 127),
        .shutdown(exitCode: 0, powerOff: true),
        .tlsCertificate(ingress: 1, source: "acme", notAfter: "2027-03-01T00:00:00Z", publicKeySHA256: "ab12", certificateSHA256: "cd34"),
        .acmeFailed(ingress: 0, error: "the CA refused the order: rateLimited", retryInSeconds: 120),
        .selfCheck(check: "clock_source", ok: false, found: "tsc", expected: "kvm-clock", required: false),
    ]

    /// What the parent decodes from the line the enclave writes.
    private func roundTrip(_ event: StatusEvent) throws -> StatusEvent? {
        var out = ByteBuffer()
        StreamRecord(seq: 7, time: 2_000_000, payload: .event(event)).encode(into: &out)
        let line = Array(String(buffer: out).dropLast().utf8) // without the newline
        guard case .record(_, let fields, _) = try StreamProtocol.decode(line) else { return nil }
        return StatusEvent(record: fields)
    }

    @Test(arguments: examples) func eachEventComesBackAsItWasSent(_ event: StatusEvent) throws {
        #expect(try roundTrip(event) == event)
    }

    @Test func theExamplesCoverEveryEvent() {
        let covered = Set(Self.examples.map(\.name))
        #expect(covered == Set(StatusEvent.Name.allCases), "missing: \(Set(StatusEvent.Name.allCases).subtracting(covered))")
    }

    /// The README's wire format: names and fields as documented, in this order.
    @Test func theWireFormatIsTheDocumentedOne() {
        var out = ByteBuffer()
        let event = StatusEvent.appExited(pid: 42, ending: .signal(15, name: "SIGTERM"), exitCode: 143, restarting: false)
        StreamRecord(seq: 3, time: 1_000_000, payload: .event(event)).encode(into: &out)
        #expect(String(buffer: out) == "{\"seq\":3,\"t\":1.000,\"event\":\"app_exited\",\"pid\":42,\"signal\":15,\"signal_name\":\"SIGTERM\",\"exit_code\":143,\"restarting\":false}\n")
        out.clear()
        StreamRecord(seq: 9, time: 0, payload: .event(.shutdown(exitCode: 3, powerOff: false))).encode(into: &out)
        #expect(String(buffer: out) == "{\"seq\":9,\"t\":0.000,\"event\":\"shutdown\",\"exit_code\":3,\"power_off\":false}\n")
    }

    @Test func unknownNamesAndMissingOrMistypedFieldsDecodeToNothing() {
        #expect(StatusEvent(name: "rebooted", fields: [:]) == nil)
        #expect(StatusEvent(name: "shutdown", fields: ["exit_code": .integer(0)]) == nil)
        #expect(StatusEvent(name: "shutdown", fields: ["exit_code": .string("0"), "power_off": .bool(true)]) == nil)
        #expect(StatusEvent(name: "app_started", fields: ["pid": .integer(Int64(Int32.max) + 1)]) == nil)
        #expect(StatusEvent(name: "app_exited", fields: ["pid": .integer(1), "exit_code": .integer(0), "restarting": .bool(false)]) == nil)
    }
}

extension StatusEvent: CustomTestStringConvertible {
    public var testDescription: String { "\(name.rawValue)" }
}
