import Addressing
import HTTPHead
import Policy

/// What one egress connection does, as a value: events in (the request head, a captured
/// connection, the dial, the parent's answer, a timeout), actions out (dial, send CONNECT,
/// relay with these first bytes, refuse). It decides everything the policy and the protocol
/// decide and touches no socket, so it is tested alone; `EgressExchange` owns the channels and
/// timers and carries the actions out (the shape of NIO's typed HTTP upgrader: a state machine
/// and a handler that acts on it).
struct EgressMachine {
    /// What the connection is asking for.
    enum Origin: Equatable {
        /// A proxy request the app wrote (CONNECT or an absolute http:// URL).
        case request(ProxyRequest)
        /// A connection the capture rule redirected: raw TCP, no HTTP to answer with.
        case captured(Destination)

        var destination: Destination {
            switch self {
            case .request(let request): return request.destination
            case .captured(let destination): return destination
            }
        }
    }

    enum State: Equatable {
        /// Reading the app's (or the enclave's) request head.
        case readingRequest
        /// Dialling: the parent's CONNECT server (enclave half) or the destination (parent half).
        case dialling(Origin)
        /// Enclave half: CONNECT sent to the parent, waiting for its answer.
        case awaitingParent(Origin)
        /// Handed to the byte path.
        case relaying
        /// Refused or ended; every later event is ignored.
        case done
    }

    /// A refusal: counted as `decision`, answered with `status` and `reason` over HTTP, or,
    /// for a captured connection (`reset`), with a TCP reset, which tells the app at once.
    struct Refusal: Equatable {
        var decision: ListenerCounters.Decision
        var status: Int
        var reason: String
        var reset: Bool
    }

    /// The bytes that go out before the relay starts, and what the log says about it.
    struct Hand: Equatable {
        /// To the app: "200 Connection established", or the parent's refusal as it came.
        var toApp: [UInt8] = []
        /// To the origin server: a plain HTTP request's head in origin form.
        var toUpstream: [UInt8] = []
        var decision: ListenerCounters.Decision
        /// "CONNECT a.example:443 allowed"; a refusal passed on from the parent is logged at info.
        var note: String
    }

    enum Action: Equatable {
        case none
        /// The client ended before a head: close, nothing to count.
        case close
        /// Enclave half: connect to the parent's CONNECT server.
        case dialParent
        /// Parent half: resolve, check every address, dial one.
        case dialDestination(Destination)
        /// Enclave half: write this CONNECT to the parent and wait for its answer.
        case sendConnect([UInt8])
        case relay(Hand)
        /// `closeUpstream`: the connection to the parent is open and goes too.
        case refuse(Refusal, closeUpstream: Bool)
    }

    enum DialFailure: Equatable {
        /// Parent half: every address the name resolves to is refused by the policy.
        case refusedByPolicy(String)
        /// Nothing answered; the system's reason.
        case unreachable(String)
    }

    private(set) var state = State.readingRequest
    let role: EgressRole

    init(role: EgressRole) { self.role = role }

    private var isParentHalf: Bool { if case .parent = role { true } else { false } }

    private var policy: EgressPolicy {
        switch role {
        case .enclave(let policy, _), .transparent(let policy, _, _), .parent(let policy, _): return policy
        }
    }

    // MARK: - Events

    mutating func headRead(_ outcome: HeadReader.Outcome) -> Action {
        guard case .readingRequest = state else { return .none }
        switch outcome {
        case .ended:
            state = .done
            return .close
        case .tooLarge:
            return refuse(.malformed, 431, "the request head is longer than \(ProxyRequest.maximumHeadBytes) bytes", reset: false)
        case .head(let head):
            let request: ProxyRequest
            switch ProxyRequest.parse(head, connectOnly: isParentHalf) {
            case .success(let parsed): request = parsed
            case .failure(let rejection): return refuse(.malformed, rejection.status, rejection.reason, reset: false)
            }
            if case .deny(let reason) = policy.decide(request.destination) {
                return refuse(.denied, 403, isParentHalf ? "egress policy (parent): \(reason)" : "egress policy: \(reason)", reset: false)
            }
            state = .dialling(.request(request))
            return isParentHalf ? .dialDestination(request.destination) : .dialParent
        }
    }

    /// A connection the capture rule sent here, judged by every name of its address.
    mutating func captured(_ connection: CapturedConnection) -> Action {
        guard case .readingRequest = state else { return .none }
        switch connection.decide(policy) {
        case .refuse(let reason):
            return refuse(.denied, 403, reason, reset: true)
        case .ask(let destination):
            state = .dialling(.captured(destination))
            return .dialParent
        }
    }

    /// The dial succeeded. `remote`: whom the parent half reached, for its log line.
    mutating func dialled(remote: String? = nil) -> Action {
        guard case .dialling(let origin) = state else { return .none }
        if isParentHalf {
            state = .relaying
            let reached = remote.map { ", connected to \($0)" } ?? ""
            return .relay(Hand(toApp: HTTPResponse.established, decision: .allowed, note: "CONNECT \(origin.destination) allowed\(reached)"))
        }
        do {
            let head = try ProxyRequest.connectHead(to: origin.destination)
            state = .awaitingParent(origin)
            return .sendConnect(head)
        } catch {
            return refuse(.failed, 400, "CONNECT \(origin.destination) cannot be written: \(error)", reset: origin.isCaptured, closeUpstream: true)
        }
    }

    /// `parent`: the enclave half's parent endpoint, named in the reason.
    mutating func dialFailed(_ failure: DialFailure, parent: Endpoint? = nil) -> Action {
        guard case .dialling(let origin) = state else { return .none }
        let reset = origin.isCaptured
        switch failure {
        case .refusedByPolicy(let reason):
            return refuse(.denied, 403, "egress policy (parent): \(reason)", reset: reset)
        case .unreachable(let reason):
            if isParentHalf { return refuse(.failed, 502, "cannot reach \(origin.destination): \(reason)", reset: reset) }
            return refuse(.failed, 502, "the parent's egress proxy at \(parent.map { "\($0)" } ?? "?") cannot be reached: \(reason)", reset: reset)
        }
    }

    /// The parent's answer head (nil: it closed without one).
    mutating func parentAnswered(_ answer: [UInt8]?) -> Action {
        guard case .awaitingParent(let origin) = state else { return .none }
        guard let answer else {
            return refuse(.failed, 502, "the parent's egress proxy closed without answering", reset: origin.isCaptured, closeUpstream: true)
        }
        let allowed = HTTPResponse.status(of: answer) == 200
        let said = String(decoding: answer.prefix { $0 != 13 }, as: UTF8.self)
        switch origin {
        case .captured(let destination):
            guard allowed else {
                return refuse(.failed, 502, "captured \(destination): the parent answered \(said)", reset: true, closeUpstream: true)
            }
            state = .relaying
            return .relay(Hand(decision: .allowed, note: "captured connection to \(destination) allowed"))
        case .request(let request):
            state = .relaying
            guard allowed else {
                // The parent's refusal, passed on as it is; the relay then carries its body.
                return .relay(Hand(toApp: answer, decision: .failed, note: "\(request.method) \(request.destination): the parent answered \(said)"))
            }
            let note = "\(request.method) \(request.destination) allowed"
            if request.originForm != nil {
                do { return .relay(Hand(toUpstream: try request.originHead(), decision: .allowed, note: note)) } catch {
                    return refuse(.failed, 400, "\(request.method) \(request.destination): the request cannot be forwarded: \(error)",
                                  reset: false, closeUpstream: true)
                }
            }
            return .relay(Hand(toApp: HTTPResponse.established, decision: .allowed, note: note))
        }
    }

    /// The parent took the CONNECT and did not answer within its patience.
    mutating func parentTimedOut(after milliseconds: Int64) -> Action {
        guard case .awaitingParent(let origin) = state else { return .none }
        return refuse(.failed, 504, "the parent's egress proxy did not answer within \(milliseconds) ms", reset: origin.isCaptured, closeUpstream: true)
    }

    /// Writing the CONNECT to the parent failed.
    mutating func upstreamFailed(_ reason: String) -> Action {
        guard case .awaitingParent(let origin) = state else { return .none }
        return refuse(.failed, 502, "the parent's egress proxy connection failed: \(reason)", reset: origin.isCaptured, closeUpstream: true)
    }

    private mutating func refuse(_ decision: ListenerCounters.Decision, _ status: Int, _ reason: String, reset: Bool,
                                 closeUpstream: Bool = false) -> Action {
        state = .done
        return .refuse(Refusal(decision: decision, status: status, reason: reason, reset: reset), closeUpstream: closeUpstream)
    }
}

extension EgressMachine.Origin {
    var isCaptured: Bool { if case .captured = self { true } else { false } }
}

extension ProxyRequest: Equatable {
    static func == (lhs: ProxyRequest, rhs: ProxyRequest) -> Bool {
        lhs.method == rhs.method && lhs.destination == rhs.destination && lhs.originForm == rhs.originForm
            && lhs.headers.map(\.name) == rhs.headers.map(\.name) && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}
