/// The control port's protocol, both ends. Text lines, so that `socat - VSOCK-CONNECT:16:9102`
/// is a usable client too:
///
///     parent:  stop
///     enclave: stopping                              (the shutdown has begun)
///     enclave: shutdown exit_code=0 power_off=true   (the last line; then the enclave closes)
///
/// Anything else the parent sends is answered `error: <reason>` and the connection is closed.
/// The enclave reads one line of at most `maximumCommandLength` bytes within `commandTimeout`.
public enum ControlProtocol {
    public static let stopCommand = "stop"
    /// Longer than any command: a line that long is garbage, answered and closed at once.
    public static let maximumCommandLength = 64
    /// A peer that connects and sends nothing is closed after this.
    public static let commandTimeout: Duration = .seconds(5)
    /// At most this many control connections are open at once; more are closed unanswered.
    public static let maximumConnections = 16
    /// The parent side reads lines up to this long (the enclave's are far shorter).
    public static let maximumAnswerLength = 512

    /// What the enclave says.
    public enum Answer: Sendable, Equatable, CustomStringConvertible {
        case stopping
        case shutdown(exitCode: Int32, powerOff: Bool)
        case error(String)

        /// The line, with its newline.
        public var line: String {
            switch self {
            case .stopping: return "stopping\n"
            case .shutdown(let code, let powerOff): return "shutdown exit_code=\(code) power_off=\(powerOff)\n"
            case .error(let reason): return "error: \(reason)\n"
            }
        }

        public var description: String { String(line.dropLast()) }

        /// Reads one line (without its newline); nil when it is none of the answers.
        public init?(line: String) {
            if line == "stopping" {
                self = .stopping
            } else if let reason = line.dropPrefix("error: ") {
                self = .error(String(reason))
            } else if let rest = line.dropPrefix("shutdown ") {
                var fields: [Substring: Substring] = [:]
                for pair in rest.split(separator: " ") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2 else { return nil }
                    fields[parts[0]] = parts[1]
                }
                guard let code = fields["exit_code"].flatMap({ Int32($0) }),
                      let powerOff = fields["power_off"].flatMap({ Bool(String($0)) }) else { return nil }
                self = .shutdown(exitCode: code, powerOff: powerOff)
            } else {
                return nil
            }
        }
    }

    /// Why a line from the parent is not a command.
    public enum CommandError: Error, Equatable, CustomStringConvertible {
        case unknown(String)
        case tooLong
        case notText
        case silent

        public var description: String {
            switch self {
            case .unknown(let command): return "unknown command \"\(command)\": the only command is \(ControlProtocol.stopCommand)"
            case .tooLong: return "no command within \(ControlProtocol.maximumCommandLength) bytes: the only command is \(ControlProtocol.stopCommand)"
            case .notText: return "not a text line: the only command is \(ControlProtocol.stopCommand)"
            case .silent: return "no command within \(ControlProtocol.commandTimeout.components.seconds) s"
            }
        }
    }

    /// The command in one line's bytes (without the newline; a trailing CR is allowed).
    public static func command(in line: [UInt8]) -> Result<Void, CommandError> {
        var bytes = line[...]
        if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        guard bytes.allSatisfy({ (0x20..<0x7F).contains($0) }) else { return .failure(.notText) }
        let text = String(decoding: bytes, as: UTF8.self).trimmingSpaces
        return text == stopCommand ? .success(()) : .failure(.unknown(text))
    }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }

    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
