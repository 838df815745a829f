import ArgumentParser
import BootConfig
import CSupport
import Glibc
import Parent
import Supervisor

/// `enclave-init`: the command types. `run` is the default subcommand.
struct RootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enclave-init",
        abstract: "Boots the inside of an AWS Nitro Enclave from one boot JSON: loopback network, /etc/hosts, vsock proxies, NFS mounts, then runs and supervises the app.",
        discussion: """
        Config path: --config, else $\(BootConfigLoader.environmentVariable), else \(BootConfigLoader.defaultPath).
        Exit codes: the app's own; 128+N when signal N ended it; 126 not executable; 127 not found; \
        78 invalid config; 70 a boot step failed.
        Set ENCLAVE_INIT_VSOCK_DIR=DIR to emulate vsock with Unix sockets DIR/<cid>-<port> (tests, laptops).
        """,
        version: BuildInfo.version,
        subcommands: [RunCommand.self, CheckCommand.self, PlanCommand.self, ParentCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

/// The entry point the `enclave-init` executable calls.
public enum EnclaveInitMain {
    public static func run(arguments: [String]) -> Never {
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
