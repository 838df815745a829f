import Commands
import Testing

/// The command-line parser against a small tree shaped like the binary's: a root with a
/// default command that takes a program after `--`, and a group with positionals and flags.
@Suite struct CommandLineParserTests {
    struct Run: Command {
        static let spec = CommandSpec(name: "run", abstract: "Run it.", options: [
            OptionSpec("--config", value: "path", help: "The config."),
            OptionSpec("--count", value: "n", help: "How many."),
        ], commandAfterTerminator: ArgumentSpec("command", help: "The program."))
        let config: String?
        let count: Int?
        let command: [String]
        init(_ arguments: ParsedArguments) throws(UsageError) {
            config = arguments.string("--config")
            count = try arguments.value("--count")
            command = arguments.afterTerminator
        }
        func run() throws {}
    }

    struct Proxy: Command {
        static let spec = CommandSpec(name: "proxy", abstract: "Proxy it.", options: [
            OptionSpec("-4", "--ipv4", help: "IPv4 only."),
            OptionSpec("-w", "--num_workers", value: "n", help: "Ignored."),
        ], arguments: [ArgumentSpec("port", help: "A port."), ArgumentSpec("host", help: "A host.")])
        let port: UInt16
        let host: String
        let ipv4: Bool
        let workers: Int?
        init(_ arguments: ParsedArguments) throws(UsageError) {
            port = try arguments.argument(0)
            host = try arguments.argument(1)
            ipv4 = arguments.flag("-4")
            workers = try arguments.value("-w")
            if port == 0 { throw UsageError("port 0 is not a port") }
        }
        func run() throws {}
    }

    static let root = CommandGroup(
        spec: CommandSpec(name: "tool", abstract: "A tool.", discussion: "Exit codes: 64 a usage error."),
        children: [.command(Run.self), .group(CommandGroup(spec: CommandSpec(name: "side", abstract: "The other side."),
                                                           children: [.command(Proxy.self)]))],
        defaultChild: "run", version: "1.2.3")

    func parse(_ words: [String]) -> CommandLineParser.Outcome { CommandLineParser.parse(words, root: Self.root) }

    func command<C: Command>(_ words: [String], as type: C.Type) throws -> C {
        guard case .run(let found, let parsed, _) = parse(words) else { throw UsageError("not a run: \(parse(words))") }
        #expect(ObjectIdentifier(found) == ObjectIdentifier(type))
        return try C(parsed)
    }

    func usageError(_ words: [String]) -> String? {
        if case .usageError(let text) = parse(words) { return text }
        return nil
    }

    @Test func optionsInEverySpellingAndTheDefaultCommand() throws {
        let named = try command(["run", "--config", "a.json", "--count=3", "--", "/bin/app", "--config", "x"], as: Run.self)
        #expect(named.config == "a.json" && named.count == 3 && named.command == ["/bin/app", "--config", "x"])
        let implicit = try command(["--config=b.json"], as: Run.self)
        #expect(implicit.config == "b.json" && implicit.count == nil && implicit.command.isEmpty)
        let proxy = try command(["side", "proxy", "-w", "5", "8080", "--ipv4", "example.com"], as: Proxy.self)
        #expect(proxy.port == 8080 && proxy.host == "example.com" && proxy.ipv4 && proxy.workers == 5)
        #expect(try command(["side", "proxy", "--num_workers", "2", "1", "h"], as: Proxy.self).workers == 2)
    }

    @Test(arguments: [
        (["run", "--confg", "x"], "unknown option '--confg'; did you mean '--config'?"),
        (["run", "--config"], "--config needs a value: --config <path>"),
        (["run", "--config", "--count", "1"], "--config needs a value"),
        (["run", "--config", "a", "--config", "b"], "--config is given twice"),
        (["run", "--count", "many"], "--count many: not an integer"),
        (["run", "--"], "'--' must be followed by <command>"),
        (["run", "stray"], "unexpected argument 'stray'; a program to run goes after `--`"),
        (["side", "proxy", "1"], "missing <host>"),
        (["side", "proxy", "70000", "h"], "<port> 70000: not an integer from 0 to 65535"),
        (["side", "proxy", "0", "h"], "port 0 is not a port"),
        (["side", "proxy", "1", "h", "--", "x"], "'--' is not taken here: x"),
        (["side", "proxy", "1", "h", "-4=yes"], "unknown option '-4=yes'"),
        (["side", "proxy", "1", "h", "--ipv4=yes"], "--ipv4 takes no value"),
        (["rnu"], "unknown command 'rnu'; did you mean 'run'?"),
        (["/bin/true"], "A program to run goes after `--`: tool [run] [--config PATH] -- /bin/true ARG..."),
        (["side"], "tool side needs a command: proxy."),
        (["side", "porxy"], "unknown command 'porxy'; did you mean 'proxy'?"),
        (["help", "nope"], "no help for 'nope'"),
    ])
    func mistakesAreUsageErrorsNamingTheWord(_ words: [String], _ says: String) {
        let text = usageError(words)
        #expect(text?.contains(says) == true, "\(words): \(text ?? "no usage error")")
        #expect(text?.hasPrefix("Error: ") == true)
    }

    @Test func usageErrorsOfACommandShowItsUsage() throws {
        let text = try #require(usageError(["side", "proxy", "1"]))
        #expect(text.contains("\nUsage: tool side proxy <port> <host> [-4] [-w <n>]\n"), "\(text)")
        #expect(text.contains("See 'tool side proxy --help'"))
    }

    @Test func aRepeatableOptionKeepsEveryValueInOrderAndOthersRefuseASecond() throws {
        let spec = CommandSpec(name: "build", abstract: "Build.", options: [
            OptionSpec("--env", value: "key=value", repeatable: true, help: "One variable."),
            OptionSpec("--name", value: "name", help: "The name."),
        ])
        let parsed = try CommandLineParser.read(["--env", "A=1", "--name", "x", "--env=B=2"], spec: spec)
        #expect(parsed.strings("--env") == ["A=1", "B=2"])
        #expect(parsed.string("--name") == "x")
        #expect(throws: UsageError("--name is given twice")) { try CommandLineParser.read(["--name", "x", "--name", "y"], spec: spec) }
        #expect(try CommandLineParser.read([], spec: spec).strings("--env").isEmpty)
    }

    @Test func helpAndVersion() throws {
        guard case .print(let root) = parse(["--help"]) else { Issue.record("no help"); return }
        #expect(root.contains("OVERVIEW: A tool.") && root.contains("run (default)") && root.contains("side") && root.contains("Exit codes: 64"))
        guard case .print(let proxy) = parse(["side", "proxy", "--help"]), case .print(let viaHelp) = parse(["help", "side", "proxy"]) else {
            Issue.record("no proxy help"); return
        }
        #expect(proxy == viaHelp)
        #expect(proxy.contains("USAGE: tool side proxy <port> <host> [-4] [-w <n>]") && proxy.contains("  -4, --ipv4") && proxy.contains("<port>"))
        guard case .print(let version) = parse(["--version"]) else { Issue.record("no version"); return }
        #expect(version == "1.2.3\n")
        // After `--`, --help is the program's.
        #expect(try command(["run", "--", "/bin/app", "--help"], as: Run.self).command == ["/bin/app", "--help"])
    }

    @Test func helpLinesAreWrapped() throws {
        guard case .print(let text) = parse(["run", "-h"]) else { Issue.record("no help"); return }
        #expect(text.split(separator: "\n").allSatisfy { $0.count <= 110 })
    }
}
