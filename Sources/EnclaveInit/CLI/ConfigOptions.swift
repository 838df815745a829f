import BootConfig
import Commands
import DocumentReading
import KMS
import ConsoleLog
import Processes

/// --config, --log-level and the command after `--`, shared by run, check and plan (in this
/// order, which is the order their usage lines show: the command after `--` comes last).
struct ConfigOptions: Sendable {
    static let options = [
        OptionSpec("--config", value: "path", help: "The boot JSON (else $\(BootConfigLoader.environmentVariable), else \(BootConfigLoader.defaultPath))."),
    ] + LoggingOptions.options
    static let command = ArgumentSpec("command", help: "A command after `--` replaces app.command.")

    /// The spec of run, check and plan: the same options, their own words.
    static func spec(_ name: String, abstract: String, usageName: String? = nil, discussion: String) -> CommandSpec {
        CommandSpec(name: name, abstract: abstract, discussion: discussion, usage: [usage(usageName ?? name)],
                    options: options, commandAfterTerminator: command)
    }

    var config: String?
    var logging: LoggingOptions
    var command: [String]

    init(_ arguments: ParsedArguments) throws(UsageError) {
        config = arguments.string("--config")
        logging = try LoggingOptions(arguments)
        command = arguments.afterTerminator
    }

    /// --config, else $ENCLAVE_INIT_CONFIG, else the default path.
    var resolvedPath: String { BootConfigLoader.resolvedPath(explicit: config) }

    /// The boot JSON, validated (a route to KMS included: the validator asks Policy).
    func load() throws(ConfigError) -> BootConfiguration {
        try BootConfigLoader.load(path: resolvedPath, commandOverride: command.isEmpty ? nil : command)
    }

    /// The config and its exact bytes (the boot measures them; plan prints their PCR value).
    func loadWithBytes() throws(ConfigError) -> (config: BootConfiguration, bytes: [UInt8]) {
        try BootConfigLoader.loadWithBytes(path: resolvedPath, commandOverride: command.isEmpty ? nil : command)
    }

    /// The usage line of run, check and plan: the optional command after `--` comes last, and
    /// `--` itself only with it.
    static func usage(_ command: String) -> String {
        "enclave-init \(command) [--config <path>] [--log-level <level>] [-- <command> [<argument> ...]]"
    }

    /// For commands that only read the config: print every error and exit 78.
    func loadOrExit() throws(CommandExit) -> BootConfiguration {
        try loadWithBytesOrExit().config
    }

    func loadWithBytesOrExit() throws(CommandExit) -> (config: BootConfiguration, bytes: [UInt8]) {
        do {
            return try loadWithBytes()
        } catch {
            Console.error(error.description)
            throw CommandExit(InitExitCode.invalidConfig)
        }
    }
}
