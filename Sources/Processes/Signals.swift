import CSupport
import Glibc

/// A signal taken from the pending set, with who sent it.
public struct ReceivedSignal: Sendable, Equatable {
    public var number: Int32
    public var senderPID: pid_t
    public var code: Int32

    /// SIGPIPE and friends raised by our own writes, not sent to us by anybody: never forwarded.
    public var isSelfInflicted: Bool {
        (code == SI_USER || code == SI_TKILL) && senderPID == getpid()
    }

    public var name: String { SignalName.of(number) }
}

/// What a command does with the signals the early constructor blocked. Each command states it
/// (`SignalPolicyDeclaring`); the entry point applies it before the command runs.
public enum SignalPolicy: Sendable {
    /// Keep them all blocked: the supervisor takes them with sigtimedwait (`run`).
    case supervise
    /// Ordinary behaviour: everything unblocked (check, plan, parent stop).
    case ordinary
    /// Unblock, then keep SIGTERM and SIGINT blocked to take them and drain, and SIGPIPE so that
    /// a write to a closed peer is an error, not death (the parent half's servers).
    case drainOnTermination

    /// Applies the policy to the calling (main) thread, before any other thread starts.
    public func apply() {
        switch self {
        case .supervise: break
        case .ordinary: ei_restore_signal_mask()
        case .drainOnTermination:
            ei_restore_signal_mask()
            Signals.block([SIGTERM, SIGINT, SIGPIPE])
        }
    }
}

/// A command that needs a signal policy other than `.ordinary`.
public protocol SignalPolicyDeclaring {
    static var signalPolicy: SignalPolicy { get }
}

/// The signals init handles. The early C constructor blocked them in the first thread, before
/// any other thread existed, so they stay pending until the supervisor takes them here with
/// sigtimedwait: nothing is lost during start-up, and a PID 1 of a namespace receives them
/// (the kernel drops signals with no handler for a namespace init, but never blocked ones).
public enum Signals {
    /// The set the constructor blocked: 1-31 except SIGKILL, SIGSTOP and synchronous faults.
    public static var handled: sigset_t { ei_early().pointee.handled }

    /// Waits for any handled signal until `timeout` (nil: forever).
    public static func wait(timeout: Duration?) -> ReceivedSignal? {
        var set = handled
        return take(from: &set, timeout: timeout)
    }

    /// Waits for one of `numbers` only, leaving every other signal pending.
    public static func wait(for numbers: [Int32], timeout: Duration?) -> ReceivedSignal? {
        var set = sigset_t()
        sigemptyset(&set)
        for number in numbers { sigaddset(&set, number) }
        return take(from: &set, timeout: timeout)
    }

    /// Blocks `numbers` in the calling thread (and the threads it starts later), so that they
    /// wait to be taken with `wait(for:timeout:)`.
    public static func block(_ numbers: [Int32]) {
        var set = sigset_t()
        sigemptyset(&set)
        for number in numbers { sigaddset(&set, number) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Takes one pending signal out of `numbers`, without waiting.
    public static func takePending(_ numbers: [Int32]) -> ReceivedSignal? {
        wait(for: numbers, timeout: .zero)
    }

    private static func take(from set: inout sigset_t, timeout: Duration?) -> ReceivedSignal? {
        var info = siginfo_t()
        let number: Int32
        if let timeout {
            let (seconds, attoseconds) = max(timeout, .zero).components
            var limit = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            number = sigtimedwait(&set, &info, &limit)
        } else {
            number = sigwaitinfo(&set, &info)
        }
        guard number > 0 else { return nil } // EAGAIN (timeout) or EINTR
        return ReceivedSignal(number: number, senderPID: info._sifields._kill.si_pid, code: info.si_code)
    }
}
