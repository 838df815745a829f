import DocumentReading
import NIOConcurrencyHelpers
import NIOCore
import NSM

/// The documents an attested ingress hands out over its TLS (ALPN `enclave-attestation/1`):
/// `user_data` is the TLS binding of the key the connection was served with, `nonce` is the
/// client's. A request without a nonce gets a document made at most `cacheLifetime` ago (one
/// NSM call serves every such client meanwhile); a request with one gets a fresh document, but
/// at most `maxInFlight` NSM calls run at once and `maxWaiting` wait: past that the answer is
/// 503 with Retry-After, so a flood from the parent costs the NSM a bounded rate.
public final class BindingDocuments: AttestationSource, @unchecked Sendable {
    private let nsm: NSMCalling
    private let publicKeySHA256: @Sendable () -> [UInt8]
    private let cacheLifetime: TimeAmount
    private let maxInFlight: Int
    private let maxWaiting: Int
    private let state = NIOLockedValueBox(State())

    private struct State {
        var inFlight = 0
        var waiting: [() -> Void] = []
        /// The nonce-less document, for the key digest it names.
        var cached: (digest: [UInt8], document: [UInt8], made: NIODeadline)?
        /// A nonce-less request being made: later ones join it.
        var joining: [EventLoopPromise<[UInt8]>] = []
        var calls = 0
    }

    public init(nsm: NSMCalling, publicKeySHA256: @escaping @Sendable () -> [UInt8], cacheLifetime: TimeAmount = .seconds(10),
                maxInFlight: Int = 2, maxWaiting: Int = 64) {
        self.nsm = nsm
        self.publicKeySHA256 = publicKeySHA256
        self.cacheLifetime = cacheLifetime
        self.maxInFlight = maxInFlight
        self.maxWaiting = maxWaiting
    }

    /// NSM calls made so far (tests: a flood and the cache are counted here).
    public var nsmCalls: Int { state.withLockedValue { $0.calls } }

    public func document(for request: NSMRequest, on eventLoop: EventLoop) -> EventLoopFuture<[UInt8]> {
        guard case .attestation(let userData, let nonce, let publicKey) = request else {
            return eventLoop.makeFailedFuture(AttestationRefusal(status: 400, reason: "not an attestation request"))
        }
        guard userData == nil, publicKey == nil else {
            return eventLoop.makeFailedFuture(AttestationRefusal(
                status: 400, reason: "user_data and public_key are the binding's (user_data names this TLS key); send only \"nonce\""))
        }
        let digest = publicKeySHA256()
        let bound = NSMRequest.attestation(userData: TLSBinding.userData(publicKeySHA256: digest), nonce: nonce, publicKey: nil)
        if nonce != nil { return limited(bound, on: eventLoop) }
        let promise = eventLoop.makePromise(of: [UInt8].self)
        let startCall = state.withLockedValue { state -> Bool in
            if let cached = state.cached, cached.digest == digest, NIODeadline.now() - cached.made < cacheLifetime {
                promise.succeed(cached.document)
                return false
            }
            state.joining.append(promise)
            return state.joining.count == 1
        }
        if startCall {
            limited(bound, on: eventLoop).whenComplete { [state] result in
                let joined = state.withLockedValue { state -> [EventLoopPromise<[UInt8]>] in
                    if case .success(let document) = result { state.cached = (digest, document, NIODeadline.now()) }
                    defer { state.joining = [] }
                    return state.joining
                }
                for waiter in joined { waiter.completeWith(result) }
            }
        }
        return promise.futureResult
    }

    /// The NSM call, when a slot is free or one frees up; 503 when too many wait already.
    private func limited(_ request: NSMRequest, on eventLoop: EventLoop) -> EventLoopFuture<[UInt8]> {
        let promise = eventLoop.makePromise(of: [UInt8].self)
        let run: () -> Void = { [self] in
            call(request, on: eventLoop).whenComplete { [self] result in
                promise.completeWith(result)
                let next = state.withLockedValue { state -> (() -> Void)? in
                    if state.waiting.isEmpty {
                        state.inFlight -= 1
                        return nil
                    }
                    return state.waiting.removeFirst()
                }
                next?()
            }
        }
        let admitted = state.withLockedValue { state -> Bool? in
            if state.inFlight < maxInFlight {
                state.inFlight += 1
                return true
            }
            guard state.waiting.count < maxWaiting else { return nil }
            state.waiting.append(run)
            return false
        }
        switch admitted {
        case true?: run()
        case false?: break
        case nil:
            promise.fail(AttestationRefusal(status: 503, reason: "too many attestation requests at once; try again in a second",
                                            extra: [("Retry-After", "1")]))
        }
        return promise.futureResult
    }

    private func call(_ request: NSMRequest, on eventLoop: EventLoop) -> EventLoopFuture<[UInt8]> {
        state.withLockedValue { $0.calls += 1 }
        return NSMSource(nsm: nsm).documentAllowingBinding(for: request, on: eventLoop)
    }
}
