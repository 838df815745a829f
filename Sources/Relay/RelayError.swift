import Addressing
import Glibc
import Services

/// Everything the relay module reports as an error, with what a caller needs to act on it
/// (the errno, the address, the route) instead of only a sentence. `description` is the text
/// the console and the refusals show.
public enum RelayError: StandaloneStartError, CustomStringConvertible {
    /// A listener could not bind.
    case cannotListen(route: String, address: ListenAddress, underlying: Error)
    /// The splice engine could not set up or start a thread (epoll, eventfd, pthread_create).
    case spliceEngine(operation: String, errno: Int32)
    /// dup() of an established connection's socket failed at the hand-over to the engine.
    case duplicate(errno: Int32)
    /// A channel without a socket underneath (never for the relay's own channels).
    case noSocket(route: String)
    /// getaddrinfo failed (`reason` is gai_strerror's or the errno's text), or found nothing.
    case cannotResolve(host: String, reason: String)
    /// Every candidate of a target failed, each with its error, in order.
    case unreachable(attempts: [(endpoint: Endpoint, error: Error)])
    /// The parent's egress checks refused every address of a destination.
    case refusedByPolicy(reason: String)
    /// hosts[index] names no remote for the parent half to dial.
    case noRemote(hostIndex: Int)
    /// Ingress on the parent needs the enclave's CID.
    case ingressNeedsEnclave

    public var description: String {
        switch self {
        case .cannotListen(let route, let address, let underlying): return "cannot listen on \(address) for \(route): \(underlying)"
        case .spliceEngine(let operation, let code): return "cannot start the relay: cannot \(operation): \(String(cString: strerror(code)))"
        case .duplicate(let code): return "cannot take over the connection's socket: \(String(cString: strerror(code)))"
        case .noSocket(let route): return "\(route): the connection has no socket to relay"
        case .cannotResolve(let host, let reason): return "cannot resolve \(host): \(reason)"
        case .unreachable(let attempts):
            return attempts.map { "\($0.endpoint): \(DialErrorText.describe($0.error))" }.joined(separator: "; ")
        case .refusedByPolicy(let reason): return reason
        case .noRemote(let index):
            return "hosts[\(index)] has neither names nor remote: the parent half does not know where to dial; set hosts[\(index)].remote"
        case .ingressNeedsEnclave: return "ingress needs the enclave's CID: pass --enclave-cid N or --enclave-name NAME (only the vsock emulation, ENCLAVE_INIT_VSOCK_DIR, has a default: 16)"
        }
    }

    /// Out of descriptors or kernel memory: a shortage of ours, worth retrying shortly, not an
    /// answer from the far end.
    var isLocalShortage: Bool {
        if case .duplicate(let code) = self { return Self.shortages.contains(code) }
        return false
    }

    static let shortages: Set<Int32> = [EMFILE, ENFILE, ENOBUFS, ENOMEM]
}
