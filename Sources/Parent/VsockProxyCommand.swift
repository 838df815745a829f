import Addressing
import BootConfig
import Commands
import ConsoleLog
import Logging
import Relay
import Processes

/// `enclave-init parent vsock-proxy LOCAL_PORT REMOTE_ADDR REMOTE_PORT`: AWS vsock-proxy's
/// command line, so a unit running vsock-proxy can switch binaries without other changes.
struct VsockProxyCommand: Command {
    static let signalPolicy = SignalPolicy.drainOnTermination

    static let spec = CommandSpec(
        name: "vsock-proxy",
        abstract: "Drop-in for AWS's vsock-proxy: listen on vsock LOCAL_PORT, dial REMOTE_ADDR:REMOTE_PORT.",
        discussion: """
        Like vsock-proxy, the remote must be listed in the allowlist file (--config, default \
        \(VsockProxyAllowlist.defaultPath)). Unlike it, every connection resolves REMOTE_ADDR again \
        and tries each address in turn, a DNS error fails only that connection, and there is no \
        worker limit (-w is accepted and ignored).
        """,
        options: [
            OptionSpec("--config", value: "file", help: "The allowlist YAML (default: \(VsockProxyAllowlist.defaultPath))."),
        ] + AddressFamilyOptions.options + [
            OptionSpec("-w", "--num_workers", "--num-workers", value: "n", help: "Accepted for compatibility; connections are not limited."),
        ] + LoggingOptions.options,
        arguments: [
            ArgumentSpec("local-port", help: "The vsock port to listen on."),
            ArgumentSpec("remote-addr", help: "The host to dial: a DNS name or an IP address."),
            ArgumentSpec("remote-port", help: "The TCP port to dial."),
        ]
    )

    let localPort: UInt32
    let remoteAddr: String
    let remotePort: UInt16
    let config: String
    let family: AddressFamilyOptions
    let numWorkers: Int?
    let logging: LoggingOptions

    init(_ arguments: ParsedArguments) throws(UsageError) {
        localPort = try arguments.argument(0)
        remoteAddr = try arguments.argument(1)
        remotePort = try arguments.argument(2)
        config = arguments.string("--config") ?? VsockProxyAllowlist.defaultPath
        family = try AddressFamilyOptions(arguments)
        numWorkers = try arguments.value("-w")
        logging = try LoggingOptions(arguments)
        guard VsockLimits.ports.contains(Int64(localPort)) else {
            throw UsageError("LOCAL_PORT \(localPort) is not a vsock port (1-4294967294)")
        }
        guard remotePort > 0 else { throw UsageError("REMOTE_PORT must be 1-65535") }
        guard case .success = HostPort.parse(remote.description) else {
            throw UsageError("REMOTE_ADDR \(remoteAddr) is neither a DNS name nor an IP address")
        }
    }

    private var remote: HostPort { HostPort(host: remoteAddr, port: remotePort) }

    func run() throws {
        let runner = ParentRunner(logging: logging)
        if let numWorkers { runner.logger.info("-w \(numWorkers) ignored: connections are not limited to a worker pool") }
        try runner.check(remotes: [("REMOTE_ADDR REMOTE_PORT", remote)], againstAllowlistAt: config)
        let route = RelayRoute(name: "vsock-proxy \(localPort)", listen: .vsock(port: localPort),
                               target: .lookup(.hostName(remote, family: family.selected)), connectTimeout: .seconds(5))
        try runner.serve([RelayService(routes: [route], emulation: runner.emulation, logger: Logger(label: "relay"))],
                         source: "vsock-proxy \(localPort) \(remote)")
    }
}
