import ArgumentParser
import BootConfig

/// `enclave-init check`: validate the boot JSON and print a one-screen summary, or every error.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the boot JSON: exit 0 with a summary, or 78 listing every error."
    )

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let config = try options.loadOrExit()
        print("\(options.resolvedPath): valid (boot JSON version \(config.version))")
        for line in ConfigSummary.lines(for: config) { print("  " + line) }
    }
}
