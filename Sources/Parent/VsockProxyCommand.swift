import Addressing
import ArgumentParser
import BootConfig
import ConsoleLog
import Logging
import Relay
import Processes

/// `enclave-init parent vsock-proxy LOCAL_PORT REMOTE_ADDR REMOTE_PORT`: AWS vsock-proxy's
/// command line, so a unit running vsock-proxy can switch binaries without other changes.
struct VsockProxyCommand: ParsableCommand, SignalPolicyDeclaring {
    static let signalPolicy = SignalPolicy.drainOnTermination

    static let configuration = CommandConfiguration(
        commandName: "vsock-proxy",
        abstract: "Drop-in for AWS's vsock-proxy: listen on vsock LOCAL_PORT, dial REMOTE_ADDR:REMOTE_PORT.",
        discussion: """
        Like vsock-proxy, the remote must be listed in the allowlist file (--config, default \
        \(VsockProxyAllowlist.defaultPath)). Unlike it, every connection resolves REMOTE_ADDR again \
        and tries each address in turn, a DNS error fails only that connection, and there is no \
        worker limit (-w is accepted and ignored).
        """
    )

    @Argument(help: "The vsock port to listen on.")
    var localPort: UInt32

    @Argument(help: "The host to dial: a DNS name or an IP address.")
    var remoteAddr: String

    @Argument(help: "The TCP port to dial.")
    var remotePort: UInt16

    @Option(name: .long, help: ArgumentHelp("The allowlist YAML.", valueName: "file"))
    var config: String = VsockProxyAllowlist.defaultPath

    @OptionGroup var family: AddressFamilyOptions

    @Option(name: [.customShort("w"), .customLong("num_workers"), .long], help: "Accepted for compatibility; connections are not limited.")
    var numWorkers: Int?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard VsockLimits.ports.contains(Int64(localPort)) else {
            throw ValidationError("LOCAL_PORT \(localPort) is not a vsock port (1-4294967294)")
        }
        guard remotePort > 0 else { throw ValidationError("REMOTE_PORT must be 1-65535") }
        guard case .success = HostPort.parse(remote.description) else {
            throw ValidationError("REMOTE_ADDR \(remoteAddr) is neither a DNS name nor an IP address")
        }
    }

    private var remote: HostPort { HostPort(host: remoteAddr, port: remotePort) }

    func run() throws {
        let runner = ParentRunner(logging: logging)
        if let numWorkers { runner.logger.info("-w \(numWorkers) ignored: connections are not limited to a worker pool") }
        try runner.check(remotes: [("REMOTE_ADDR REMOTE_PORT", remote)], againstAllowlistAt: config)
        let route = RelayRoute(name: "vsock-proxy \(localPort)", listen: .vsock(port: localPort),
                               target: .lookup(.hostName(remote, family: family.selected)), connectTimeout: .seconds(5))
        try runner.serve([route], source: "vsock-proxy \(localPort) \(remote)")
    }
}
