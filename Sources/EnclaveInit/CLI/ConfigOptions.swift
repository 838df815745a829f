import ArgumentParser
import BootConfig
import ConsoleLog
import Processes
import Supervisor

/// --config, --log-level and the command after `--`, shared by run, check and plan (in this
/// order, which is the order their usage lines show: the command after `--` comes last).
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The boot JSON (else $\(BootConfigLoader.environmentVariable), else \(BootConfigLoader.defaultPath)).", valueName: "path"))
    var config: String?

    @OptionGroup var logging: LoggingOptions

    @Argument(parsing: .postTerminator,
              help: ArgumentHelp("A command after `--` replaces app.command.", valueName: "command"))
    var command: [String] = []

    /// --config, else $ENCLAVE_INIT_CONFIG, else the default path.
    var resolvedPath: String { BootConfigLoader.resolvedPath(explicit: config) }

    func load() throws(ConfigError) -> BootConfiguration {
        try BootConfigLoader.load(path: resolvedPath, commandOverride: command.isEmpty ? nil : command)
    }

    /// The usage line of run, check and plan: ArgumentParser would print the optional command
    /// as `-- [<command> ...]`, which reads as if `--` were required.
    static func usage(_ command: String) -> String {
        "enclave-init \(command) [--config <path>] [--log-level <level>] [-- <command> [<argument> ...]]"
    }

    /// For commands that only read the config: print every error and exit 78.
    func loadOrExit() throws -> BootConfiguration {
        do {
            return try load()
        } catch {
            Console.error(error.description)
            throw ExitCode(InitExitCode.invalidConfig)
        }
    }
}

public enum BuildInfo {
    public static let version = "0.1.0"
}
