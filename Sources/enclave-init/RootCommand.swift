import ArgumentParser
import BootConfig
import ConsoleLog
import CSupport
import EnclaveInit
import Glibc
import Parent
import Processes

/// `enclave-init`: the command types, the enclave's (EnclaveInit) and the parent's (Parent) side
/// by side only here, in the executable. `run` is the default subcommand.
struct RootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enclave-init",
        abstract: "Boots the inside of an AWS Nitro Enclave from one boot JSON: loopback network, /etc/hosts, vsock proxies, NFS mounts, then runs and supervises the app.",
        discussion: """
        Config path: --config, else $\(BootConfigLoader.environmentVariable), else \(BootConfigLoader.defaultPath).
        Exit codes: the app's own; 128+N when signal N ended it; 126 not executable; 127 not found; \
        78 invalid config; 70 a boot step failed; 64 a usage error on the command line. Each command's \
        --help lists its own (parent stop adds 69, 75 and 76).
        Set ENCLAVE_INIT_VSOCK_DIR=DIR to emulate vsock with Unix sockets DIR/<cid>-<port> (tests, laptops).
        """,
        version: BuildInfo.version,
        subcommands: [RunCommand.self, CheckCommand.self, PlanCommand.self, ParentCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

extension RootCommand {
    /// `run` is the default subcommand, so a mistyped command (`enclave-init chek`) would reach
    /// it as an unexpected argument and be answered with run's usage. A first word that is no
    /// command and no option is answered here instead: what it is not, and what is near.
    static func unknownCommand(in arguments: [String]) -> String? {
        guard let first = arguments.first, !first.hasPrefix("-") else { return nil }
        let commands = configuration.subcommands.map { $0._commandName } + ["help"]
        guard !commands.contains(first) else { return nil }
        if let near = closestMatch(to: first, in: commands) {
            return "Error: unknown command '\(first)'; did you mean '\(near)'?\n"
                + "Commands: \(commands.joined(separator: ", ")) (run is the default). See 'enclave-init --help'."
        }
        return "Error: unknown command '\(first)'. Commands: \(commands.joined(separator: ", ")) (run is the default).\n"
            + "A program to run goes after `--`: enclave-init [run] [--config PATH] -- \(first) ARG..."
    }
}

/// The entry point main.swift calls.
enum EnclaveInitMain {
    static func run(arguments: [String]) -> Never {
        if let problem = RootCommand.unknownCommand(in: arguments) {
            ei_restore_signal_mask()
            Console.error(problem)
            RootCommand.exit(withError: ExitCode(64))
        }
        do {
            var command = try RootCommand.parseAsRoot(arguments)
            // The early constructor blocked the signals init handles; each command says what it
            // needs of them (only `run` supervises; the parent's servers drain on SIGTERM).
            ((type(of: command) as? SignalPolicyDeclaring.Type)?.signalPolicy ?? .ordinary).apply()
            try command.run()
            RootCommand.exit()
        } catch {
            ei_restore_signal_mask()
            RootCommand.exit(withError: error)
        }
    }
}
