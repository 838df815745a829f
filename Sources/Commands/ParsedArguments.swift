/// The command line as the parser read it against a CommandSpec: each option's value by its
/// first spelling, the flags given, the positional arguments and what came after `--`. The
/// typed getters turn a value that does not convert into a UsageError naming the option.
public struct ParsedArguments: Sendable {
    var values: [String: String] = [:]
    /// Every value of a repeatable option, in order.
    var repeated: [String: [String]] = [:]
    var flags: Set<String> = []
    public internal(set) var positionals: [String] = []
    public internal(set) var afterTerminator: [String] = []
    let spec: CommandSpec

    init(spec: CommandSpec) { self.spec = spec }

    public func flag(_ name: String) -> Bool {
        precondition(spec.options.contains { $0.name == name && $0.isFlag }, "\(name) is not a flag of \(spec.name)")
        return flags.contains(name)
    }

    public func string(_ name: String) -> String? {
        precondition(spec.options.contains { $0.name == name && !$0.isFlag }, "\(name) is not an option of \(spec.name)")
        return values[name]
    }

    /// Every value of a repeatable option, in the order given.
    public func strings(_ name: String) -> [String] {
        precondition(spec.options.contains { $0.name == name && $0.repeatable }, "\(name) is not a repeatable option of \(spec.name)")
        return repeated[name] ?? []
    }

    mutating func record(_ option: OptionSpec, _ value: String) {
        values[option.name] = value
        if option.repeatable { repeated[option.name, default: []].append(value) }
    }

    public func value<Value: ArgumentValue>(_ name: String, as type: Value.Type = Value.self) throws(UsageError) -> Value? {
        guard let text = string(name) else { return nil }
        guard let value = Value(argument: text) else {
            let option = spec.options.first { $0.name == name }!
            throw UsageError("\(name) \(text): not \(Value.expected)" + (option.valueName.map { " (\(name) <\($0)>)" } ?? ""))
        }
        return value
    }

    /// The positional argument at `index`, converted; the parser made sure it is there.
    public func argument<Value: ArgumentValue>(_ index: Int, as type: Value.Type = Value.self) throws(UsageError) -> Value {
        let text = positionals[index]
        guard let value = Value(argument: text) else {
            throw UsageError("<\(spec.arguments[index].valueName)> \(text): not \(Value.expected)")
        }
        return value
    }
}

/// A type an option's or argument's text converts into.
public protocol ArgumentValue {
    init?(argument: String)
    /// What a valid value is, for the error: "an integer from 0 to 65535".
    static var expected: String { get }
}

extension String: ArgumentValue {
    public init?(argument: String) { self = argument }
    public static var expected: String { "a string" }
}

extension ArgumentValue where Self: FixedWidthInteger {
    public init?(argument: String) {
        guard let value = Self(argument, radix: 10) else { return nil }
        self = value
    }
    public static var expected: String { "an integer from \(Self.min) to \(Self.max)" }
}

extension Int: ArgumentValue {}
extension UInt16: ArgumentValue {}
extension UInt32: ArgumentValue {}
