import DocumentReading

/// Reads a command line against a tree of commands. Written here rather than taken from
/// swift-argument-parser: that package imports Foundation in a file that cannot be left out,
/// which put 4.7 MB of FoundationEssentials (and its unwind tables) into a binary that uses
/// nothing else of Foundation — 6.8 MB in all, a third of the binary (scripts/size-report;
/// README "Figures"). What is needed is small: long and short options with a value or none,
/// `--name=value`, positional arguments, `--` and the command after it, a default subcommand,
/// help and usage generated from the same spec, and errors that name the option.
public enum CommandLineParser {
    public enum Outcome {
        /// Run this command with these arguments; `path` is how it was reached ("enclave-init parent stop").
        case run(any Command.Type, ParsedArguments, path: String)
        /// Print this on stdout and exit 0 (--help, help, --version).
        case print(String)
        /// Print this on stderr and exit 64.
        case usageError(String)
    }

    public static func parse(_ arguments: [String], root: CommandGroup) -> Outcome {
        parse(arguments[...], group: root, path: root.spec.name, isRoot: true)
    }

    private static func parse(_ arguments: ArraySlice<String>, group: CommandGroup, path: String, isRoot: Bool) -> Outcome {
        let first = arguments.first
        if first == "-h" || first == "--help" { return .print(HelpText.group(group, path: path)) }
        if first == "--version", let version = group.version { return .print(version + "\n") }
        if isRoot, first == "help" { return help(for: Array(arguments.dropFirst()), root: group) }
        if let first, let child = group.child(named: first) {
            return parse(arguments.dropFirst(), node: child, path: path + " " + first)
        }
        if let first, !first.hasPrefix("-") || group.defaultChild == nil {
            return .usageError(unknownCommand(first, in: group, path: path))
        }
        guard let name = group.defaultChild, let child = group.child(named: name) else {
            return .usageError("Error: \(path) needs a command: \(commandList(group)).\n  See '\(path) --help'.\n")
        }
        return parse(arguments, node: child, path: path + " " + name)
    }

    private static func parse(_ arguments: ArraySlice<String>, node: CommandNode, path: String) -> Outcome {
        switch node {
        case .group(let group):
            return parse(arguments, group: group, path: path, isRoot: false)
        case .command(let type):
            do {
                // Help wins wherever it is among our words (not among the app's, after `--`).
                if arguments.prefix(while: { $0 != "--" }).contains(where: { $0 == "-h" || $0 == "--help" }) {
                    return .print(HelpText.command(type.spec, path: path))
                }
                let parsed = try read(arguments, spec: type.spec)
                _ = try type.init(parsed)
                return .run(type, parsed, path: path)
            } catch {
                return .usageError(usageError(error, spec: type.spec, path: path))
            }
        }
    }

    /// The text of a usage error: the message, the usage, where to read more.
    public static func usageError(_ error: UsageError, spec: CommandSpec, path: String) -> String {
        let usage = HelpText.usageLines(spec, path: path)
        return "Error: \(error.message)\nUsage: \(usage.joined(separator: "\n       "))\n  See '\(path) --help' for more information.\n"
    }

    /// One command's words: options anywhere before `--`, positionals in order. (Public for
    /// tests of one command's options.)
    public static func read(_ arguments: ArraySlice<String>, spec: CommandSpec) throws(UsageError) -> ParsedArguments {
        var parsed = ParsedArguments(spec: spec)
        var rest = arguments
        while let word = rest.popFirst() {
            if word == "--" {
                guard let after = spec.commandAfterTerminator else {
                    throw UsageError("'--' is not taken here" + (rest.isEmpty ? "" : ": \(rest.joined(separator: " "))"))
                }
                guard !rest.isEmpty else { throw UsageError("'--' must be followed by <\(after.valueName)>") }
                parsed.afterTerminator = Array(rest)
                break
            }
            guard word.hasPrefix("-"), word.count > 1 else {
                guard parsed.positionals.count < spec.arguments.count else {
                    throw UsageError("unexpected argument '\(word)'" + (spec.commandAfterTerminator != nil ? "; a program to run goes after `--`" : ""))
                }
                parsed.positionals.append(word)
                continue
            }
            var name = word
            var inlineValue: String?
            if word.hasPrefix("--"), let equals = word.firstIndex(of: "=") {
                name = String(word[..<equals])
                inlineValue = String(word[word.index(after: equals)...])
            }
            guard let option = spec.options.first(where: { $0.names.contains(name) }) else {
                let spellings = spec.options.flatMap(\.names) + ["--help"]
                let near = closestMatch(to: name, in: spellings).map { "; did you mean '\($0)'?" } ?? ""
                throw UsageError("unknown option '\(name)'\(near)")
            }
            if option.isFlag {
                if inlineValue != nil { throw UsageError("\(name) takes no value") }
                guard !parsed.flags.contains(option.name) else { throw UsageError("\(name) is given twice") }
                parsed.flags.insert(option.name)
                continue
            }
            guard option.repeatable || parsed.values[option.name] == nil else { throw UsageError("\(name) is given twice") }
            if let inlineValue {
                parsed.record(option, inlineValue)
            } else if let next = rest.first, !next.hasPrefix("--"), !spec.options.contains(where: { $0.names.contains(next) }) {
                parsed.record(option, rest.removeFirst())
            } else {
                throw UsageError("\(name) needs a value: \(name) <\(option.valueName!)>")
            }
        }
        if parsed.positionals.count < spec.arguments.count(where: { !$0.optional }) {
            let missing = spec.arguments[parsed.positionals.count...].filter { !$0.optional }.map { "<\($0.valueName)>" }
            throw UsageError("missing \(missing.joined(separator: " "))")
        }
        return parsed
    }

    private static func help(for words: [String], root: CommandGroup) -> Outcome {
        var node = CommandNode.group(root)
        var path = root.spec.name
        for word in words {
            guard case .group(let group) = node, let child = group.child(named: word) else {
                return .usageError("Error: no help for '\(words.joined(separator: " "))': \(path) has no command '\(word)'.\n  See '\(path) --help'.\n")
            }
            node = child
            path += " " + word
        }
        switch node {
        case .group(let group): return .print(HelpText.group(group, path: path))
        case .command(let type): return .print(HelpText.command(type.spec, path: path))
        }
    }

    private static func commandList(_ group: CommandGroup) -> String {
        group.children.map(\.spec.name).joined(separator: ", ") + (group.defaultChild.map { " (\($0) is the default)" } ?? "")
    }

    /// The default command would take a mistyped command (`enclave-init chek`) as an unexpected
    /// argument and answer with its own usage: a first word that is no command and no option is
    /// answered here instead, with what is near or, for a command that runs a program, where
    /// that program goes.
    private static func unknownCommand(_ word: String, in group: CommandGroup, path: String) -> String {
        let names = group.children.map(\.spec.name) + (group.version != nil ? ["help"] : [])
        if let near = closestMatch(to: word, in: names) {
            return "Error: unknown command '\(word)'; did you mean '\(near)'?\n"
                + "Commands: \(names.joined(separator: ", "))\(group.defaultChild.map { " (\($0) is the default)" } ?? ""). See '\(path) --help'.\n"
        }
        var text = "Error: unknown command '\(word)'. Commands: \(names.joined(separator: ", "))\(group.defaultChild.map { " (\($0) is the default)" } ?? "").\n"
        if let name = group.defaultChild, let spec = group.child(named: name)?.spec, spec.commandAfterTerminator != nil {
            let option = spec.options.first.map { " [\($0.name) \(($0.valueName ?? "").uppercased())]" } ?? ""
            text += "A program to run goes after `--`: \(path) [\(name)]\(option) -- \(word) ARG...\n"
        }
        return text
    }
}
