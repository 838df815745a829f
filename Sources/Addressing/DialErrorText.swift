import Glibc
import NIOCore

/// A failed connect as a log line should say it: the system's words for the errno
/// ("Connection refused", "No such file or directory" for an emulated vsock port nobody listens
/// on), not NIO's "connect(descriptor:addr:size:): Connection refused (errno: 111)".
public enum DialErrorText {
    public static func describe(_ error: Error) -> String {
        switch error {
        case let error as IOError:
            return String(cString: strerror(error.errnoCode))
        case ChannelError.connectTimeout(let waited):
            return "no answer within \(waited.nanoseconds / 1_000_000) ms"
        default:
            return "\(error)"
        }
    }
}
