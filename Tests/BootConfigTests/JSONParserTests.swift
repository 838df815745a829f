import BootConfig
import DocumentReading
import Testing

@Suite struct JSONParserTests {
    private func parse(_ text: String) throws(JSONParser.SyntaxError) -> JSONNode { try JSONParser.parse(Array(text.utf8)) }

    private func syntaxError(_ text: String) -> JSONParser.SyntaxError? {
        do { _ = try parse(text); return nil } catch { return error }
    }

    @Test func parsesEveryValueKindWithLocations() throws {
        let root = try parse("{\n  \"a\": [1, -2.5e3, true, false, null],\n  \"é\": \"x\\u00e9\\ud83d\\ude00\\n\"\n}")
        guard case .object(let members) = root.value else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["a", "é"])
        #expect(members[0].keyLocation == SourceLocation(line: 2, column: 3))
        guard case .array(let elements) = members[0].value.value else { Issue.record("not an array"); return }
        #expect(elements.map(\.value.typeName) == ["integer", "number", "boolean", "boolean", "null"])
        #expect(elements[1].location == SourceLocation(line: 2, column: 12))
        #expect(members[1].value.value == .string("xé😀\n"))
        // Columns count characters: "é" is two bytes but one column.
        #expect(members[1].value.location == SourceLocation(line: 3, column: 8))
    }

    @Test func integersKeepTheirExactValue() throws {
        let root = try parse("[9223372036854775807, 9223372036854775808, 1.0, 1e2]")
        guard case .array(let elements) = root.value else { Issue.record("not an array"); return }
        let integers = elements.map { node -> Int64? in if case .number(let n) = node.value { return n.integer } else { return nil } }
        #expect(integers == [Int64.max, nil, nil, nil])
    }

    @Test(arguments: [
        ("", "line 1, column 1: the document is empty"),
        ("   \n  ", "line 2, column 3: the document is empty"),
        ("{\"a\": 1,}", "line 1, column 8: a trailing comma before '}': JSON allows none; remove this comma"),
        ("[1,]", "line 1, column 3: a trailing comma before ']'"),
        ("{\"a\": 1 // note\n}", "line 1, column 9: a comment: JSON has no comments"),
        ("{'a': 1}", "line 1, column 2: a single quote: JSON puts every key and string in double quotes"),
        ("{\"a\" 1}", "line 1, column 6: unexpected '1'; expected ':' after key \"a\""),
        ("[1 2]", "line 1, column 4: unexpected '2'; expected ',' or ']' in an array"),
        ("{\"a\": tru}", "line 1, column 7: unexpected 't'; expected a value (did you mean true?"),
        ("{\"a\": \"x\ny\"}", "line 1, column 9: control character 0x0A inside a string"),
        ("{\"a\": \"\\q\"}", "line 1, column 9: invalid escape \\'q'"),
        ("{\"a\": \"\\ud800\"}", "unpaired UTF-16 surrogate"),
        ("{\"a\": 1, \"a\": 2}", "line 1, column 10: duplicate key \"a\" (first at line 1, column 2)"),
        ("[01]", "leading zeros"),
        ("[1.]", "expected a digit after the decimal point"),
        ("[-]", "expected a digit in a number"),
        ("{} {}", "line 1, column 4: unexpected '{' after the end of the document"),
        ("\"abc", "line 1, column 1: unterminated string"),
        ("[\"\u{0}\"]", "control character 0x00"),
    ])
    func reportsSyntaxErrorsWithLineAndColumn(_ text: String, _ expected: String) {
        let error = syntaxError(text)
        #expect(error?.description.contains(expected) == true, "got \(String(describing: error))")
    }

    @Test func rejectsInvalidUTF8() {
        let bytes: [UInt8] = Array("{\"a\": \"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(bytes) }
    }

    @Test func skipsAByteOrderMark() throws {
        let root = try JSONParser.parse([0xEF, 0xBB, 0xBF] + Array("{}".utf8))
        #expect(root.value == .object([]))
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(syntaxError(deep)?.message.contains("nesting deeper than 64 levels") == true)
        let fine = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(syntaxError(fine) == nil)
    }

    /// 200,000 values on one line: counting columns from the start of the line for each value
    /// (quadratic: 4e10 steps) takes many minutes, so the time limit is the bound; the column of
    /// the last value proves the whole line was counted.
    @Test(.timeLimit(.minutes(1))) func longSingleLineDocumentParsesInLinearTime() throws {
        let text = "[" + Array(repeating: "1", count: 200_000).joined(separator: ",") + "]"
        let root = try parse(text)
        guard case .array(let elements) = root.value else {
            Issue.record("not an array: \(root.value.typeName)")
            return
        }
        #expect(elements.count == 200_000)
        #expect(elements.last?.location == SourceLocation(line: 1, column: 400_000))
    }

    @Test func pathsPrintTheWayUsersWriteThem() {
        #expect((JSONPath.root / "hosts" / 1 / "port").description == "hosts[1].port")
        #expect((JSONPath.root / "app" / "env" / "MY.VAR").description == "app.env[\"MY.VAR\"]")
        #expect(JSONPath.root.description == "(document)")
    }
}
