import CBORCoding
import CSupport
import Glibc
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Services

/// The Nitro Secure Module: /dev/nsm (ENCLAVE_INIT_NSM_DEVICE overrides the path for tests),
/// one ioctl that takes a CBOR request and gives a CBOR response. ENCLAVE_INIT_NSM_SOCKET=PATH
/// emulates the device over a Unix socket instead (tests and local runs, never the default):
/// see NSMEmulation. Calls are serialized on one
/// thread of their own; each caller waits at most `timeout`. A device that never answers
/// keeps that thread, so while a call is overdue every new one fails at once (`.deviceHung`)
/// instead of queueing behind it: neither the boot nor the attestation endpoint waits forever.
public final class NSMDevice: Sendable {
    public static let defaultPath = "/dev/nsm"
    public static let defaultTimeout: TimeAmount = .seconds(5)

    /// /dev/nsm, or $ENCLAVE_INIT_NSM_DEVICE when it is set and not empty; "unix:PATH" with
    /// the emulation.
    public static var configuredPath: String {
        if let socket = NSMEmulation.socketPath { return NSMEmulation.prefix + socket }
        if let value = getenv("ENCLAVE_INIT_NSM_DEVICE").map({ String(cString: $0) }), !value.isEmpty { return value }
        return defaultPath
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case absent(path: String)
        case cannotOpen(path: String, errno: Int32)
        /// The path exists, but the ioctl is not understood there (ENOTTY, EINVAL): not an NSM.
        case notAnNSM(path: String, errno: Int32)
        case ioctl(path: String, errno: Int32)
        case timedOut(milliseconds: Int64)
        case deviceHung
        case requestTooLarge(Int)
        case malformed(String)
        /// The NSM answered with an error code.
        case nsm(String)

        public var description: String {
            switch self {
            case .absent(let path): return "no NSM device at \(path)"
            case .cannotOpen(let path, let code): return "cannot open \(path): \(String(cString: strerror(code)))"
            case .notAnNSM(let path, let code): return "\(path) is not an NSM device (its ioctl answered: \(String(cString: strerror(code))))"
            case .ioctl(let path, let code): return "the NSM ioctl on \(path) failed: \(String(cString: strerror(code)))"
            case .timedOut(let milliseconds): return "the NSM did not answer within \(milliseconds) ms"
            case .deviceHung: return "an earlier NSM call has not returned: the device is not answering"
            case .requestTooLarge(let size): return "the request is \(size) bytes, more than the NSM takes (\(NSMRequest.maximumLength))"
            case .malformed(let reason): return reason
            case .nsm(let code): return "the NSM answered \(code)"
            }
        }
    }

    public let path: String
    private let timeout: TimeAmount
    /// One call at a time (one device), on the shared blocking pool.
    private let lane = BlockingPool.Lane(width: 1)
    /// When each call not yet returned was submitted, oldest first (the lane keeps their order).
    private let outstanding = NIOLockedValueBox<[NIODeadline]>([])
    /// The ioctl and the decoding (tests put a device that hangs here).
    private let perform: @Sendable (_ request: [UInt8], _ path: String) -> Result<NSMResponse, Error>

    public convenience init(path: String = NSMDevice.configuredPath, timeout: TimeAmount = NSMDevice.defaultTimeout) {
        self.init(path: path, timeout: timeout, perform: Self.perform)
    }

    init(path: String, timeout: TimeAmount, perform: @escaping @Sendable (_ request: [UInt8], _ path: String) -> Result<NSMResponse, Error>) {
        self.path = path
        self.timeout = timeout
        self.perform = perform
    }

    /// Whether anything exists at `path` (the boot asks for entropy only then, before it makes
    /// a client and its threads).
    public static func exists(at path: String = NSMDevice.configuredPath) -> Bool {
        access(path.hasPrefix(NSMEmulation.prefix) ? String(path.dropFirst(NSMEmulation.prefix.count)) : path, F_OK) == 0
    }

    /// One request; the response, or a Failure (an NSM error code is `.nsm`).
    public func call(_ request: NSMRequest, on eventLoop: EventLoop) -> EventLoopFuture<NSMResponse> {
        let encoded = request.cbor.encoded()
        guard encoded.count <= NSMRequest.maximumLength else { return eventLoop.makeFailedFuture(Failure.requestTooLarge(encoded.count)) }
        // The oldest call not yet returned is overdue: the device hangs, and a new call would
        // only queue behind it.
        let overdue: Bool = outstanding.withLockedValue { calls in
            guard let oldest = calls.first else { return false }
            return NIODeadline.now() - oldest > timeout
        }
        if overdue { return eventLoop.makeFailedFuture(Failure.deviceHung) }
        let promise = eventLoop.makePromise(of: NSMResponse.self)
        // The timer and the call race to answer; the first wins, the other is dropped.
        let answered = NIOLockedValueBox(false)
        @Sendable func complete(_ result: Result<NSMResponse, Error>) {
            guard answered.withLockedValue({ done in defer { done = true }; return !done }) else { return }
            promise.completeWith(result)
        }
        let timer = eventLoop.scheduleTask(in: timeout) { [timeout] in
            complete(.failure(Failure.timedOut(milliseconds: timeout.nanoseconds / 1_000_000)))
        }
        outstanding.withLockedValue { $0.append(.now()) }
        lane.submit { [path, outstanding, perform] in
            let result = perform(encoded, path)
            outstanding.withLockedValue { $0.removeFirst() }
            timer.cancel()
            complete(result)
        }
        return promise.futureResult
    }

    /// The same, waiting here (the boot's entropy step).
    public func callWaiting(_ request: NSMRequest) throws -> NSMResponse {
        try call(request, on: EventLoops.one()).wait()
    }

    private static func perform(_ request: [UInt8], path: String) -> Result<NSMResponse, Error> {
        var response = [UInt8](repeating: 0, count: NSMResponse.maximumLength)
        var length = response.count
        let called = path.hasPrefix(NSMEmulation.prefix)
            ? NSMEmulation.call(socket: String(path.dropFirst(NSMEmulation.prefix.count)), request, &response, &length)
            : ei_nsm_call(path, request, request.count, &response, &length)
        guard called == 0 else {
            let code = errno
            switch code {
            case ENOENT: return .failure(Failure.absent(path: path))
            case ENOTTY, EINVAL, ENOTSUP: return .failure(Failure.notAnNSM(path: path, errno: code))
            case EACCES, EPERM, ENXIO, ENODEV, EISDIR: return .failure(Failure.cannotOpen(path: path, errno: code))
            default: return .failure(Failure.ioctl(path: path, errno: code))
            }
        }
        do {
            let decoded = try NSMResponse(cbor: try CBOR.decode(Array(response[0..<min(length, response.count)])))
            switch decoded {
            case .error(let code): return .failure(Failure.nsm(code.rawValue))
            case .unknownError(let code): return .failure(Failure.nsm(code))
            default: return .success(decoded)
            }
        } catch {
            return .failure(Failure.malformed("the NSM's answer is not what its protocol says: \(error)"))
        }
    }
}
