import BootConfig
import Commands
import EnclaveImage
import EnclaveInit
import Parent
import Verifier

/// `enclave-init`: the enclave's commands (EnclaveInit) and the parent's (Parent) side by side
/// only here, in the executable. `run` is the default subcommand.
enum RootCommand {
    static let group = CommandGroup(
        spec: CommandSpec(
            name: "enclave-init",
            abstract: "Boots the inside of an AWS Nitro Enclave from one boot JSON: loopback network, /etc/hosts, vsock proxies, NFS mounts, then runs and supervises the app.",
            discussion: """
            Config path: --config, else $\(BootConfigLoader.environmentVariable), else \(BootConfigLoader.defaultPath).
            Exit codes: the app's own; 128+N when signal N ended it; 126 not executable; 127 not found;
            78 invalid config; 70 a boot step failed; 64 a usage error on the command line. Each command's \
            --help lists its own (parent stop adds 69, 75 and 76).
            Set ENCLAVE_INIT_VSOCK_DIR=DIR to emulate vsock with Unix sockets DIR/<cid>-<port> (tests, laptops).
            """,
            usage: ["enclave-init [<subcommand>] [<options>] [-- <command> [<argument> ...]]"]
        ),
        children: [.command(RunCommand.self), .command(CheckCommand.self), .command(PlanCommand.self), .group(ParentCommand.group),
                   .command(BuildCommand.self), .command(DescribeEIFCommand.self),
                   .command(VerifyCommand.self)],
        defaultChild: "run",
        version: BuildInfo.versionLine
    )
}
