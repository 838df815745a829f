import Addressing
import BootConfig
import HTTPHead
import Policy
@testable import Relay
import Testing

/// The egress exchange's decisions, without a socket: every path from a request head or a
/// captured connection to a relay or a refusal, on both halves.
@Suite struct EgressMachineTests {
    private let parent = Endpoint.vsock(cid: 3, port: 8001)

    private func policy(_ allow: [String], deny: [String] = []) -> EgressPolicy {
        EgressPolicy(allow: allow.map { try! EgressRule.parse($0).get() }, deny: deny.map { try! EgressRule.parse($0).get() })
    }

    private func enclave(_ allow: [String] = ["*.example.com:443", "plain.example.com:80"], deny: [String] = []) -> EgressMachine {
        EgressMachine(role: .enclave(policy: policy(allow, deny: deny), parent: parent))
    }

    private func head(_ text: String) -> HeadReader.Outcome { .head(Array(text.utf8)) }

    private func refusal(_ action: EgressMachine.Action) -> EgressMachine.Refusal? {
        guard case .refuse(let refusal, _) = action else { return nil }
        return refusal
    }

    @Test func anAllowedConnectIsAskedOfTheParentThenRelayedWithItsEstablishedLine() {
        var machine = enclave()
        #expect(machine.headRead(head("CONNECT API.example.com.:443 HTTP/1.1\r\n\r\n")) == .dialParent)
        #expect(machine.dialled() == .sendConnect(Array("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n".utf8)))
        guard case .relay(let hand) = machine.parentAnswered(Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)) else {
            Issue.record("not relayed"); return
        }
        #expect(hand.toApp == HTTPResponse.established && hand.toUpstream.isEmpty && hand.decision == .allowed)
        #expect(machine.state == .relaying)
    }

    @Test func aPlainHTTPRequestGoesToTheOriginInOriginFormAndTheAppHearsNothingFromUs() {
        var machine = enclave()
        _ = machine.headRead(head("GET http://plain.example.com/x HTTP/1.1\r\nHost: plain.example.com\r\n\r\n"))
        _ = machine.dialled()
        guard case .relay(let hand) = machine.parentAnswered(Array("HTTP/1.1 200 OK\r\n\r\n".utf8)) else { Issue.record("not relayed"); return }
        #expect(hand.toApp.isEmpty)
        #expect(String(decoding: hand.toUpstream, as: UTF8.self) == "GET /x HTTP/1.1\r\nHost: plain.example.com\r\nConnection: close\r\n\r\n")
    }

    @Test func theParentsRefusalReachesTheAppAsItCame() {
        var machine = enclave()
        _ = machine.headRead(head("CONNECT a.example.com:443 HTTP/1.1\r\n\r\n"))
        _ = machine.dialled()
        let answer = Array("HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\n".utf8)
        guard case .relay(let hand) = machine.parentAnswered(answer) else { Issue.record("not relayed"); return }
        #expect(hand.toApp == answer && hand.decision == .failed)
        #expect(hand.note == "CONNECT a.example.com:443: the parent answered HTTP/1.1 403 Forbidden")
    }

    @Test func refusalsInTheEnclaveAreHTTPAnswers() {
        var denied = enclave(deny: ["secret.example.com"])
        #expect(refusal(denied.headRead(head("CONNECT secret.example.com:443 HTTP/1.1\r\n\r\n")))?.status == 403)
        #expect(denied.state == .done)
        var unlisted = enclave()
        let refused = refusal(unlisted.headRead(head("CONNECT other.org:443 HTTP/1.1\r\n\r\n")))
        #expect(refused?.decision == .denied && refused?.reset == false && refused?.reason.hasPrefix("egress policy: ") == true)
        var malformed = enclave()
        #expect(refusal(malformed.headRead(head("CONNECT a.example.com HTTP/1.1\r\n\r\n")))?.decision == .malformed)
        var large = enclave()
        #expect(refusal(large.headRead(.tooLarge))?.status == 431)
        var gone = enclave()
        #expect(gone.headRead(.ended) == .close)
    }

    @Test func aParentThatCannotBeReachedOrDoesNotAnswerIs502Or504() {
        var unreachable = enclave()
        _ = unreachable.headRead(head("CONNECT a.example.com:443 HTTP/1.1\r\n\r\n"))
        let failed = refusal(unreachable.dialFailed(.unreachable("Connection refused"), parent: parent))
        #expect(failed?.status == 502 && failed?.reason == "the parent's egress proxy at vsock:3:8001 cannot be reached: Connection refused")

        var silent = enclave()
        _ = silent.headRead(head("CONNECT a.example.com:443 HTTP/1.1\r\n\r\n"))
        _ = silent.dialled()
        #expect(silent.parentTimedOut(after: 30_000) == .refuse(.init(decision: .failed, status: 504,
                reason: "the parent's egress proxy did not answer within 30000 ms", reset: false), closeUpstream: true))
        #expect(silent.parentAnswered(Array("HTTP/1.1 200 OK\r\n\r\n".utf8)) == .none, "a late answer changes nothing")

        var closed = enclave()
        _ = closed.headRead(head("CONNECT a.example.com:443 HTTP/1.1\r\n\r\n"))
        _ = closed.dialled()
        #expect(refusal(closed.parentAnswered(nil))?.status == 502)
    }

    @Test func aTimeoutAfterTheRelayStartedIsIgnored() {
        var machine = enclave()
        _ = machine.headRead(head("CONNECT a.example.com:443 HTTP/1.1\r\n\r\n"))
        _ = machine.dialled()
        _ = machine.parentAnswered(Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8))
        #expect(machine.parentTimedOut(after: 1) == .none)
        #expect(machine.state == .relaying)
    }

    // MARK: - Captured connections: raw TCP, answered with a reset

    private func transparent(_ allow: [String]) -> EgressMachine {
        EgressMachine(role: .transparent(policy: policy(allow), parent: parent, names: { _ in [] }))
    }

    @Test func anAllowedCapturedConnectionIsAskedByNameAndRelayedWithoutAnyBytesOfOurs() {
        var machine = transparent(["api.example.com:443"])
        let connection = CapturedConnection(address: IPv4Address("198.18.0.7")!, port: 443, names: ["api.example.com"])
        #expect(machine.captured(connection) == .dialParent)
        #expect(machine.state == .dialling(.captured(try! Destination.parse(authority: "api.example.com:443").get())))
        #expect(machine.dialled() == .sendConnect(try! ProxyRequest.connectHead(to: try! Destination.parse(authority: "api.example.com:443").get())))
        guard case .relay(let hand) = machine.parentAnswered(Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)) else {
            Issue.record("not relayed"); return
        }
        #expect(hand.toApp.isEmpty && hand.toUpstream.isEmpty, "the app spoke no HTTP and hears none")
    }

    @Test func everyRefusalOfACapturedConnectionIsAReset() {
        let connection = CapturedConnection(address: IPv4Address("198.18.0.7")!, port: 443, names: ["api.example.com"])
        var denied = transparent(["other.example.com:443"])
        #expect(refusal(denied.captured(connection))?.reset == true)

        var parentSaysNo = transparent(["api.example.com:443"])
        _ = parentSaysNo.captured(connection)
        _ = parentSaysNo.dialled()
        let refused = parentSaysNo.parentAnswered(Array("HTTP/1.1 403 Forbidden\r\n\r\n".utf8))
        #expect(refused == .refuse(.init(decision: .failed, status: 502, reason: "captured api.example.com:443: the parent answered HTTP/1.1 403 Forbidden",
                                        reset: true), closeUpstream: true))

        var unreachable = transparent(["api.example.com:443"])
        _ = unreachable.captured(connection)
        #expect(refusal(unreachable.dialFailed(.unreachable("No such file or directory"), parent: parent))?.reset == true)
    }

    // MARK: - The parent half

    @Test func theParentHalfTakesOnlyConnectAndChecksAgain() {
        let role = EgressRole.parent(policy: policy(["*.example.com:443"]), family: .any)
        var allowed = EgressMachine(role: role)
        let destination = try! Destination.parse(authority: "a.example.com:443").get()
        #expect(allowed.headRead(head("CONNECT a.example.com:443 HTTP/1.1\r\n\r\n")) == .dialDestination(destination))
        guard case .relay(let hand) = allowed.dialled(remote: "[IPv4]10.0.0.5:443") else { Issue.record("not relayed"); return }
        #expect(hand.toApp == HTTPResponse.established && hand.note == "CONNECT a.example.com:443 allowed, connected to [IPv4]10.0.0.5:443")

        var get = EgressMachine(role: role)
        #expect(refusal(get.headRead(head("GET http://a.example.com/ HTTP/1.1\r\n\r\n")))?.status == 405)
        var denied = EgressMachine(role: role)
        #expect(refusal(denied.headRead(head("CONNECT b.other.org:443 HTTP/1.1\r\n\r\n")))?.reason.hasPrefix("egress policy (parent): ") == true)
        var resolvedToADeniedAddress = EgressMachine(role: role)
        _ = resolvedToADeniedAddress.headRead(head("CONNECT a.example.com:443 HTTP/1.1\r\n\r\n"))
        let refused = refusal(resolvedToADeniedAddress.dialFailed(.refusedByPolicy("169.254.169.254 is the instance metadata service")))
        #expect(refused?.status == 403 && refused?.decision == .denied)
    }
}
