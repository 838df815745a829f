import Foundation
import Testing
import TestSupport

/// The README stays true where a test can hold it: its code map names every source file and
/// script that exists, and its size figure is the binary's.
@Suite struct ReadmeTests {
    static let repository = #filePath.replacingOccurrences(of: "/Tests/EnclaveInitTests/ReadmeTests.swift", with: "")

    static func codeMap() throws -> String {
        let readme = try String(contentsOfFile: repository + "/README.md", encoding: .utf8)
        let start = try #require(readme.range(of: "## Code layout"))
        let rest = readme[start.upperBound...]
        return String(rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)])
    }

    /// A word of the map, not a piece of a longer one ("process" in "processes" does not count).
    static func names(_ name: String, in text: String) -> Bool {
        var searchStart = text.startIndex
        while let found = text.range(of: name, range: searchStart..<text.endIndex) {
            let before = found.lowerBound == text.startIndex ? " " : text[text.index(before: found.lowerBound)]
            let after = found.upperBound == text.endIndex ? " " : text[found.upperBound]
            if !(before.isLetter || before.isNumber || before == "_") && !(after.isLetter || after.isNumber || after == "_") { return true }
            searchStart = found.upperBound
        }
        return false
    }

    @Test func theCodeMapNamesEverySourceFileAndScript() throws {
        let map = try Self.codeMap()
        let sources = FileManager.default.enumerator(atPath: Self.repository + "/Sources")?.compactMap { $0 as? String } ?? []
        let files = sources.filter { $0.hasSuffix(".swift") || $0.hasSuffix(".c") || $0.hasSuffix(".h") }
        #expect(files.count > 100)
        for file in files {
            let name = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
            #expect(Self.names(name, in: map), "the README's code map does not name \(file)")
        }
        for script in try FileManager.default.contentsOfDirectory(atPath: Self.repository + "/scripts") {
            #expect(Self.names(script, in: map), "the README's code map does not name scripts/\(script)")
        }
        for module in try FileManager.default.contentsOfDirectory(atPath: Self.repository + "/Sources") {
            #expect(map.contains("Sources/\(module)/"), "the README's code map has no line for Sources/\(module)")
        }
    }

    /// The size the README states is the static binary's, within 0.5 MiB (checked when the
    /// tests run against the static build, as scripts/test runs them).
    @Test func theStatedSizeIsTheBinarysSize() throws {
        guard let binary = ProcessInfo.processInfo.environment["ENCLAVE_INIT_BINARY"], !binary.isEmpty else { return }
        let readme = try String(contentsOfFile: Self.repository + "/README.md", encoding: .utf8)
        let match = try #require(readme.firstMatch(of: #/\| `dist/enclave-init` size \| ([0-9.]+) MiB/#), "the README states no size")
        let stated = try #require(Double(match.1))
        let size = Double(try FileManager.default.attributesOfItem(atPath: binary)[.size] as? Int ?? 0) / 1_048_576
        #expect(abs(size - stated) <= 0.5, "the README says \(stated) MiB, the binary is \(size) MiB")
        // Stated once: other mentions of the binary's size point at the same figure.
        for other in readme.matches(of: #/the ([0-9.]+) MiB binary/#) {
            #expect(abs((Double(other.1) ?? 0) - stated) <= 0.5, "the README also says \(other.0)")
        }
    }

    /// The repository explains itself: nothing in it points at design notes outside it, and
    /// the notes its comments cite exist.
    @Test func nothingCitesAFileOutsideTheRepository() throws {
        let outside = ["DESIGN" + ".md", "shared" + "/"]
        var checked = 0
        for folder in ["Sources", "Tests", "scripts", "docs", "demo", "rootfs"] {
            for case let file as String in FileManager.default.enumerator(atPath: Self.repository + "/" + folder) ?? NSEnumerator() {
                guard let text = try? String(contentsOfFile: Self.repository + "/\(folder)/\(file)", encoding: .utf8) else { continue }
                checked += 1
                for needle in outside { #expect(!text.contains(needle), "\(folder)/\(file) cites \(needle)") }
            }
        }
        for file in ["README.md", "Package.swift", "Dockerfile"] {
            let text = try String(contentsOfFile: Self.repository + "/" + file, encoding: .utf8)
            for needle in outside { #expect(!text.contains(needle), "\(file) cites \(needle)") }
        }
        #expect(checked > 150)
        #expect(FileManager.default.fileExists(atPath: Self.repository + "/docs/design.md"))
    }
}
