import BootConfig
import Commands

/// `enclave-init check`: validate the boot JSON and print a one-screen summary, or every error.
public struct CheckCommand: Command {
    public static let spec = ConfigOptions.spec(
        "check",
        abstract: "Validate the boot JSON: exit 0 with a summary, or 78 listing every error.",
        discussion: "Exit codes: 0 valid; 78 invalid (every error with its JSON path and a hint); 64 a usage error."
    )

    let options: ConfigOptions

    public init(_ arguments: ParsedArguments) throws(UsageError) { options = try ConfigOptions(arguments) }

    public func run() throws {
        options.logging.bootstrap()
        let config = try options.loadOrExit()
        print("\(options.resolvedPath): valid (boot JSON version \(config.version))")
        for line in ConfigSummary.lines(for: config) { print("  " + line) }
    }
}
