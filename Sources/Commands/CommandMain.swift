import Glibc
import CSupport
import Processes

/// The entry point: parse, apply the chosen command's signal policy, run it, exit with its code.
public enum CommandMain {
    public static func run(_ arguments: [String], root: CommandGroup) -> Never {
        switch CommandLineParser.parse(arguments, root: root) {
        case .print(let text):
            ei_restore_signal_mask()
            write(text, to: 1)
            exit(0)
        case .usageError(let text):
            ei_restore_signal_mask()
            write(text, to: 2)
            exit(UsageError.exitCode)
        case .run(let type, let parsed, let path):
            // The early constructor blocked the signals init handles; each command says what
            // it needs of them (only `run` supervises; the parent's servers drain on SIGTERM).
            type.signalPolicy.apply()
            do {
                let command = try type.init(parsed)
                try command.run()
                exit(0)
            } catch let error as CommandExit {
                ei_restore_signal_mask()
                exit(error.code)
            } catch let error as UsageError {
                ei_restore_signal_mask()
                write(CommandLineParser.usageError(error, spec: type.spec, path: path), to: 2)
                exit(UsageError.exitCode)
            } catch {
                // Commands end with CommandExit after saying what went wrong; anything else is
                // a failure nobody printed yet.
                ei_restore_signal_mask()
                write("Error: \(error)\n", to: 2)
                exit(InitExitCode.bootStepFailed)
            }
        }
    }

    /// The console's queue (console_queue.c) written out before the process ends, then the
    /// exit; at most 2 s for a console that does not read.
    private static func exit(_ code: Int32) -> Never {
        _ = ei_console_flush(2000)
        Glibc.exit(code)
    }

    /// Direct, after what is queued: help, usage and errors come last.
    private static func write(_ text: String, to descriptor: Int32) {
        _ = ei_console_flush(2000)
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
