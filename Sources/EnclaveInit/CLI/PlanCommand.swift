import ArgumentParser
import Addressing
import BootConfig
import Glibc
import Relay

/// `enclave-init plan`: print the ordered boot steps the config implies; touches nothing.
public struct PlanCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print the ordered boot steps the config implies (addresses, hosts lines, listeners, mounts, the app); touch nothing.",
        usage: ConfigOptions.usage("plan"),
        discussion: "Exit codes: 0 printed; 78 invalid config (every error, as check prints them); 64 a usage error."
    )

    @OptionGroup var options: ConfigOptions

    public init() {}

    public func run() throws {
        options.logging.bootstrap()
        let config = try options.loadOrExit()
        let emulation = VsockEmulation.fromEnvironment(defaultCID: VsockEmulation.defaultEnclaveCID)
        print("plan for \(options.resolvedPath):")
        for line in BootPlan(config: config, emulation: emulation).lines() { print(line) }
    }
}
