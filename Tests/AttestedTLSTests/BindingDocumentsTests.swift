@testable import AttestedTLS
import CBORCoding
import DocumentReading
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NSM
import Testing

/// The binding's documents: what a flood of requests costs the NSM, and what a request may set.
@Suite struct BindingDocumentsTests {
    /// Answers after `delay` with a document echoing the request (CBOR), counting calls.
    final class CountingNSM: NSMCalling, Sendable {
        let calls = NIOLockedValueBox(0)
        let delay: TimeAmount
        init(delay: TimeAmount) { self.delay = delay }

        func call(_ request: NSMRequest, on eventLoop: EventLoop) -> EventLoopFuture<NSMResponse> {
            calls.withLockedValue { $0 += 1 }
            return eventLoop.scheduleTask(in: delay) { NSMResponse.attestation(document: request.cbor.encoded()) }.futureResult
        }
    }

    let key = [UInt8](repeating: 0xAB, count: 32)
    var loop: EventLoop { MultiThreadedEventLoopGroup.singleton.next() }

    @Test func documentsWithoutANonceShareOneNSMCallWhileFresh() throws {
        let nsm = CountingNSM(delay: .milliseconds(50))
        let key = self.key
        let documents = BindingDocuments(nsm: nsm, publicKeySHA256: { key }, cacheLifetime: .seconds(10))
        let futures = (0..<200).map { _ in documents.document(for: .attestation(userData: nil, nonce: nil, publicKey: nil), on: loop) }
        let answers = try futures.map { try $0.wait() }
        #expect(Set(answers).count == 1)
        #expect(nsm.calls.withLockedValue { $0 } == 1, "200 nonce-less requests, one NSM call")
        let echoed = try CBOR.decode(answers[0])
        #expect(echoed["Attestation"]?["user_data"] == .bytes(TLSBinding.userData(publicKeySHA256: key)))
        #expect(echoed["Attestation"]?["nonce"] == .null)
        // Later, still within the lifetime: the cache.
        _ = try documents.document(for: .attestation(userData: nil, nonce: nil, publicKey: nil), on: loop).wait()
        #expect(nsm.calls.withLockedValue { $0 } == 1)
    }

    @Test func aNonceGetsAFreshDocumentButAFloodIsBounded() throws {
        let nsm = CountingNSM(delay: .milliseconds(100))
        let key = self.key
        let documents = BindingDocuments(nsm: nsm, publicKeySHA256: { key }, maxInFlight: 2, maxWaiting: 8)
        let futures = (0..<50).map { index in
            documents.document(for: .attestation(userData: nil, nonce: [UInt8(index)], publicKey: nil), on: loop)
        }
        var served = 0, refused = 0
        for (index, future) in futures.enumerated() {
            do {
                let echoed = try CBOR.decode(try future.wait())
                #expect(echoed["Attestation"]?["nonce"] == .bytes([UInt8(index)]), "each its own nonce")
                served += 1
            } catch let refusal as AttestationRefusal {
                #expect(refusal.status == 503 && refusal.extra.contains { $0.0 == "Retry-After" })
                refused += 1
            }
        }
        // Two in flight and eight waiting: ten served, forty told to come back; the NSM saw ten.
        #expect(served == 10 && refused == 40, "\(served) served, \(refused) refused")
        #expect(nsm.calls.withLockedValue { $0 } == 10)
        // Once the flood is over, a request is served again.
        #expect(throws: Never.self) { try documents.document(for: .attestation(userData: nil, nonce: [1], publicKey: nil), on: loop).wait() }
    }

    @Test func userDataAndPublicKeyAreTheBindingsNotTheClients() throws {
        let key = self.key
        let documents = BindingDocuments(nsm: CountingNSM(delay: .zero), publicKeySHA256: { key })
        for request in [NSMRequest.attestation(userData: [1], nonce: nil, publicKey: nil), .attestation(userData: nil, nonce: [1], publicKey: [2])] {
            #expect {
                try documents.document(for: request, on: loop).wait()
            } throws: { error in
                (error as? AttestationRefusal)?.status == 400 && "\(error)".contains("send only \"nonce\"")
            }
        }
    }
}
