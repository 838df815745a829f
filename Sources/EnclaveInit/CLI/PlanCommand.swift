import Addressing
import BootConfig
import Commands
import Glibc
import Relay

/// `enclave-init plan`: print the ordered boot steps the config implies; touches nothing.
public struct PlanCommand: Command {
    public static let spec = ConfigOptions.spec(
        "plan",
        abstract: "Print the ordered boot steps the config implies (addresses, hosts lines, listeners, mounts, the app); touch nothing.",
        discussion: "Exit codes: 0 printed; 78 invalid config (every error, as check prints them); 64 a usage error."
    )

    let options: ConfigOptions

    public init(_ arguments: ParsedArguments) throws(UsageError) { options = try ConfigOptions(arguments) }

    public func run() throws {
        options.logging.bootstrap()
        let (config, bytes) = try options.loadWithBytesOrExit()
        let emulation = VsockEmulation.fromEnvironment(defaultCID: VsockEmulation.defaultEnclaveCID)
        print("plan for \(options.resolvedPath):")
        for line in BootPlan(config: config, emulation: emulation, configBytes: bytes).lines() { print(line) }
        for warning in ConfigSummary.warnings(for: config) { print("warning: " + warning) }
    }
}
