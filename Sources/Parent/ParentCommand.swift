import Addressing
import Commands

/// `enclave-init parent`: the parent-instance half. `serve` (the default) reads the boot JSON;
/// `vsock-proxy` takes AWS vsock-proxy's arguments so existing units can switch binaries;
/// `stop` asks the enclave to shut down gracefully over its control port.
public enum ParentCommand {
    public static let group = CommandGroup(
        spec: CommandSpec(
            name: "parent",
            abstract: "Run the parent-instance half: vsock listeners that dial hosts[].remote, ingress listeners that dial the enclave, and the enclave's log and status streams.",
            discussion: """
            Runs until SIGTERM or SIGINT (or, with --exit-with-enclave, until the enclave reports its end), then closes its listeners and gives open connections 2 s to finish.
            Exit codes (serve): 0 after SIGTERM or SIGINT; with --exit-with-enclave, the enclave's; 78 invalid boot JSON, or a remote missing from --allowlist; 70 a listener cannot start; 64 a usage error. stop: see `parent stop --help`.
            Set ENCLAVE_INIT_VSOCK_DIR=DIR to emulate vsock with Unix sockets (the parent listens as CID 3: DIR/3-<port>; the enclave is CID 16 unless given).
            """,
            usage: [
                "enclave-init parent [serve] [--config <path>] [--enclave-cid <cid> | --enclave-name <name>] [--ingress-bind <address>] [--allowlist <file>] [--exit-with-enclave] [--status-file <path>] [-4|-6] [--log-level <level>]",
                "enclave-init parent stop [--config <path>] [--enclave-cid <cid> | --enclave-name <name>] [--timeout <seconds>] [--log-level <level>]",
                "enclave-init parent vsock-proxy <local-port> <remote-addr> <remote-port> [--config <file>] [-4|-6] [-w <n>] [--log-level <level>]",
            ]
        ),
        children: [.command(ParentServeCommand.self), .command(VsockProxyCommand.self), .command(ParentStopCommand.self)],
        defaultChild: "serve"
    )
}

/// -4 / -6, as vsock-proxy spells them.
struct AddressFamilyOptions: Sendable {
    static let options = [
        OptionSpec("-4", "--ipv4", help: "Dial IPv4 addresses only."),
        OptionSpec("-6", "--ipv6", help: "Dial IPv6 addresses only."),
    ]

    let selected: AddressFamily

    init(_ arguments: ParsedArguments) throws(UsageError) {
        let (ipv4, ipv6) = (arguments.flag("-4"), arguments.flag("-6"))
        if ipv4 && ipv6 { throw UsageError("-4 and -6 exclude each other: give one, or neither to dial both") }
        selected = ipv4 ? .ipv4 : ipv6 ? .ipv6 : .any
    }
}
