import ArgumentParser
import BootConfig
import ConsoleLog
import Supervisor

/// --config and the command after `--`, shared by run, check and plan.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The boot JSON.", valueName: "path"))
    var config: String?

    @Argument(parsing: .postTerminator,
              help: ArgumentHelp("A command after `--` replaces app.command.", valueName: "command"))
    var command: [String] = []

    /// --config, else $ENCLAVE_INIT_CONFIG, else the default path.
    var resolvedPath: String { BootConfigLoader.resolvedPath(explicit: config) }

    func load() throws(ConfigError) -> BootConfiguration {
        try BootConfigLoader.load(path: resolvedPath, commandOverride: command.isEmpty ? nil : command)
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

enum BuildInfo {
    static let version = "0.1.0"
}
