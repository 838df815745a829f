import Processes

/// What a command takes, declared once: its help and usage are printed from it, and the
/// parser reads the command line against it.
public struct CommandSpec: Sendable {
    public var name: String
    public var abstract: String
    /// Paragraphs after the abstract in --help (exit codes, environment).
    public var discussion: String
    /// Usage lines written by hand, when the generated one would read wrong (nil: generated).
    public var usage: [String]?
    public var options: [OptionSpec]
    public var arguments: [ArgumentSpec]
    /// Whatever follows `--` is the command's (run, check, plan: the app's command line);
    /// otherwise `--` is an error.
    public var commandAfterTerminator: ArgumentSpec?

    public init(name: String, abstract: String, discussion: String = "", usage: [String]? = nil,
                options: [OptionSpec] = [], arguments: [ArgumentSpec] = [], commandAfterTerminator: ArgumentSpec? = nil) {
        self.name = name
        self.abstract = abstract
        self.discussion = discussion
        self.usage = usage
        self.options = options
        self.arguments = arguments
        self.commandAfterTerminator = commandAfterTerminator
    }
}

/// An option: its spellings (the first is the one usage lines show and the one commands ask
/// for), the value it takes (nil: a flag) and its help.
public struct OptionSpec: Sendable, Equatable {
    public var names: [String]
    public var valueName: String?
    public var help: String
    /// May be given several times (`--env A=1 --env B=2`); ParsedArguments.strings has them all.
    public var repeatable: Bool

    public init(_ names: String..., value valueName: String? = nil, repeatable: Bool = false, help: String) {
        precondition(!names.isEmpty && names.allSatisfy { $0.hasPrefix("-") }, "option spellings start with -")
        precondition(!repeatable || valueName != nil, "only an option with a value repeats")
        self.names = names
        self.valueName = valueName
        self.repeatable = repeatable
        self.help = help
    }

    public var name: String { names[0] }
    public var isFlag: Bool { valueName == nil }
}

/// A positional argument, in order. Optional ones come last.
public struct ArgumentSpec: Sendable, Equatable {
    public var valueName: String
    public var help: String
    public var optional: Bool

    public init(_ valueName: String, optional: Bool = false, help: String) {
        self.valueName = valueName
        self.help = help
        self.optional = optional
    }
}

/// A command that can run.
public protocol Command: SendableMetatype {
    static var spec: CommandSpec { get }
    /// What the process does with the signals the early constructor blocked (default: ordinary).
    static var signalPolicy: SignalPolicy { get }
    /// Reads and checks the parsed command line; a problem is a UsageError (exit 64, with usage).
    init(_ arguments: ParsedArguments) throws(UsageError)
    /// Runs; ends by returning (exit 0) or throwing CommandExit, UsageError, or another error.
    func run() throws
}

extension Command {
    public static var signalPolicy: SignalPolicy { .ordinary }
}

/// A command made of commands (`enclave-init`, `enclave-init parent`): one of them may be the
/// default, taken when the first word names none.
public struct CommandGroup: Sendable {
    public var spec: CommandSpec
    public var children: [CommandNode]
    public var defaultChild: String?
    public var version: String?

    public init(spec: CommandSpec, children: [CommandNode], defaultChild: String? = nil, version: String? = nil) {
        self.spec = spec
        self.children = children
        self.defaultChild = defaultChild
        self.version = version
    }

    func child(named name: String) -> CommandNode? { children.first { $0.spec.name == name } }
}

public enum CommandNode: Sendable {
    case command(any Command.Type)
    case group(CommandGroup)

    public var spec: CommandSpec {
        switch self {
        case .command(let type): return type.spec
        case .group(let group): return group.spec
        }
    }
}
