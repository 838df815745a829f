import ArgumentParser
import Addressing
import BootConfig
import Glibc
import Relay

/// `enclave-init plan`: print the ordered boot steps the config implies; touches nothing.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print the ordered boot steps the config implies (addresses, hosts lines, listeners, mounts, the app); touch nothing."
    )

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let config = try options.loadOrExit()
        let emulation = VsockEmulation.fromEnvironment(defaultCID: VsockEmulation.defaultEnclaveCID)
        print("plan for \(options.resolvedPath):")
        for line in BootPlan(config: config, emulation: emulation).lines() { print(line) }
    }
}
