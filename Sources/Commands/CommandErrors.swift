/// A mistake on the command line: printed with the command's usage, exit 64 (EX_USAGE).
public struct UsageError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    public static let exitCode: Int32 = 64
}

/// Ends a command with this exit code; what went wrong was printed already.
public struct CommandExit: Error, Equatable {
    public var code: Int32
    public init(_ code: Int32) { self.code = code }
}
