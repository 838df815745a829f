import ArgumentParser
import BootConfig

/// `enclave-init check`: validate the boot JSON and print a one-screen summary, or every error.
public struct CheckCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate the boot JSON: exit 0 with a summary, or 78 listing every error.",
        usage: ConfigOptions.usage("check"),
        discussion: "Exit codes: 0 valid; 78 invalid (every error with its JSON path and a hint); 64 a usage error."
    )

    @OptionGroup var options: ConfigOptions

    public init() {}

    public func run() throws {
        options.logging.bootstrap()
        let config = try options.loadOrExit()
        print("\(options.resolvedPath): valid (boot JSON version \(config.version))")
        for line in ConfigSummary.lines(for: config) { print("  " + line) }
    }
}
