/// --help, printed from the same spec the parser reads: OVERVIEW, the discussion, USAGE, then
/// the arguments, options and subcommands with their help, wrapped to 100 columns.
enum HelpText {
    static let width = 100
    static let column = 26

    static func command(_ spec: CommandSpec, path: String) -> String {
        var text = overview(spec, path: path)
        if !spec.arguments.isEmpty {
            text += "\nARGUMENTS:\n" + spec.arguments.map { row("<\($0.valueName)>", $0.help) }.joined()
        }
        let options = spec.options.map { row(spelling($0), $0.help) }
            + (spec.commandAfterTerminator.map { [row("-- <\($0.valueName)> ...", $0.help)] } ?? [])
            + [row("-h, --help", "Show help information.")]
        text += "\nOPTIONS:\n" + options.joined()
        return text
    }

    static func group(_ group: CommandGroup, path: String) -> String {
        var text = overview(group.spec, path: path)
        var options = [row("-h, --help", "Show help information.")]
        if group.version != nil { options.append(row("--version", "Show the version.")) }
        text += "\nOPTIONS:\n" + options.joined()
        text += "\nSUBCOMMANDS:\n"
        for child in group.children {
            let name = child.spec.name + (child.spec.name == group.defaultChild ? " (default)" : "")
            text += row(name, child.spec.abstract)
        }
        text += "\n  See '\(path) help <subcommand>' or '\(path) <subcommand> --help' for detailed help.\n"
        return text
    }

    /// The usage lines: the spec's own, else one made from its options and arguments.
    static func usageLines(_ spec: CommandSpec, path: String) -> [String] {
        if let usage = spec.usage { return usage }
        var words = [path] + spec.arguments.map { $0.optional ? "[<\($0.valueName)>]" : "<\($0.valueName)>" }
        for option in spec.options {
            words.append("[" + option.name + (option.valueName.map { " <\($0)>" } ?? "") + "]")
        }
        if let after = spec.commandAfterTerminator { words.append("[-- <\(after.valueName)> ...]") }
        return [words.joined(separator: " ")]
    }

    private static func overview(_ spec: CommandSpec, path: String) -> String {
        var text = "OVERVIEW: " + wrap(spec.abstract, indent: 10, firstIndent: 10) + "\n"
        if !spec.discussion.isEmpty {
            text += "\n" + spec.discussion.split(separator: "\n", omittingEmptySubsequences: false)
                .map { wrap(String($0), indent: 0, firstIndent: 0) }.joined(separator: "\n") + "\n"
        }
        text += "\nUSAGE: " + usageLines(spec, path: path).joined(separator: "\n       ") + "\n"
        return text
    }

    private static func spelling(_ option: OptionSpec) -> String {
        option.names.joined(separator: ", ") + (option.valueName.map { " <\($0)>" } ?? "")
    }

    /// "  name              help, wrapped under itself"; a name too long for the column puts
    /// the help on the next line.
    private static func row(_ name: String, _ help: String) -> String {
        let lead = "  " + name
        if lead.count + 2 > column {
            return lead + "\n" + String(repeating: " ", count: column) + wrap(help, indent: column, firstIndent: column) + "\n"
        }
        return lead + String(repeating: " ", count: column - lead.count) + wrap(help, indent: column, firstIndent: column) + "\n"
    }

    /// Words joined into lines of at most `width` columns; continuation lines indented.
    static func wrap(_ text: String, indent: Int, firstIndent: Int) -> String {
        var lines: [String] = []
        var line = ""
        var used = firstIndent
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            if !line.isEmpty && used + 1 + word.count > width {
                lines.append(line)
                line = ""
                used = indent
            }
            if !line.isEmpty {
                line += " "
                used += 1
            }
            line += word
            used += word.count
        }
        lines.append(line)
        return lines.joined(separator: "\n" + String(repeating: " ", count: indent))
    }
}
