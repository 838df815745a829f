/// Deterministic random damage to a config text, for the fuzz-style tests: every mutation is
/// reproducible from the seed the test prints.
public struct ConfigMutator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// SplitMix64: small, fast, and the same sequence on every machine.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(next() % UInt64(bound)) }

    private static let tokens: [String] = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "null", "true", "false", "0", "-1", "1e999", "65536", "4294967296",
        "9223372036854775808", "\"\"", "\"*\"", "\"**\"", "\"127.0.0.1\"", "\"10.0.0.1\"", "\"::1\"", "\"a:b:c\"",
        "\"\\u0000\"", "\"\\ud800\"", "\"/\"", "\"nfs4\"", "\"version\"", "\"hosts\"", "{\"x\":1}", "[[[[[[", "\u{FEFF}", "\u{00e9}",
    ]

    /// One to four random edits of `text`.
    public mutating func mutate(_ text: String) -> [UInt8] {
        var bytes = Array(text.utf8)
        for _ in 0...below(4) {
            guard !bytes.isEmpty else { bytes = Array(Self.tokens[below(Self.tokens.count)].utf8); continue }
            let position = below(bytes.count)
            switch below(6) {
            case 0: // flip a bit
                bytes[position] ^= UInt8(1 << below(8))
            case 1: // delete a run
                bytes.removeSubrange(position..<min(bytes.count, position + 1 + below(16)))
            case 2: // insert a token
                bytes.insert(contentsOf: Array(Self.tokens[below(Self.tokens.count)].utf8), at: position)
            case 3: // duplicate a run
                let end = min(bytes.count, position + 1 + below(40))
                bytes.insert(contentsOf: Array(bytes[position..<end]), at: end)
            case 4: // replace a digit run (possibly empty) with another number
                var end = position
                while end < bytes.count, (48...57).contains(bytes[end]) { end += 1 }
                let numbers = ["0", "1", "65535", "65536", "-5", "3.5", "99999999999", "2049", "8000", "9000"]
                bytes.replaceSubrange(position..<end, with: Array(numbers[below(numbers.count)].utf8))
            default: // swap two bytes
                bytes.swapAt(position, below(bytes.count))
            }
        }
        return bytes
    }
}
