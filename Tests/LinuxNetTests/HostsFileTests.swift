import BootConfig
import Foundation
import LinuxNet
import Testing

@Suite struct HostsFileTests {
    let entries = [HostsEntries.Entry(address: "127.0.0.2", names: ["kms.example.com", "kms"]),
                   HostsEntries.Entry(address: "127.0.0.3", names: ["sm.example.com"])]

    private let block = """
        # BEGIN enclave-init
        # Managed by enclave-init from its boot JSON: edits inside this block are replaced at boot.
        127.0.0.2 kms.example.com kms
        127.0.0.3 sm.example.com
        # END enclave-init
        """

    @Test func keepsEveryLineThatIsNotOursAndPutsTheBlockFirst() {
        let existing = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n# a comment\n10.0.0.9 db.internal\n"
        #expect(HostsFile.render(existing: existing, entries: entries) == block + "\n" + existing)
    }

    @Test func addsLocalhostLinesWhenTheFileHasNone() {
        let rendered = HostsFile.render(existing: "", entries: [])
        #expect(rendered == "# BEGIN enclave-init\n# Managed by enclave-init from its boot JSON: edits inside this block are replaced at boot.\n127.0.0.1 localhost\n::1 localhost\n# END enclave-init\n")
        // A commented-out localhost does not count.
        #expect(HostsFile.render(existing: "# 127.0.0.1 localhost\n", entries: []).contains("\n127.0.0.1 localhost\n"))
    }

    @Test func replacesTheBlockInsteadOfAppendingAnother() {
        let first = HostsFile.render(existing: "127.0.0.1 localhost\n::1 localhost\n", entries: entries)
        let changed = [HostsEntries.Entry(address: "127.0.0.9", names: ["new.example.com"])]
        let second = HostsFile.render(existing: first, entries: changed)
        #expect(second.components(separatedBy: HostsFile.beginMarker).count == 2)
        #expect(!second.contains("kms.example.com"))
        #expect(second.contains("127.0.0.9 new.example.com\n# END enclave-init\n127.0.0.1 localhost\n::1 localhost\n"))
    }

    @Test func aBlockMovedByHandIsReplacedAtTheTop() {
        let existing = "127.0.0.1 localhost\n::1 localhost\n# BEGIN enclave-init\n127.0.0.7 stale\n# END enclave-init\n10.1.1.1 other\n"
        let rendered = HostsFile.render(existing: existing, entries: entries)
        #expect(rendered == block + "\n127.0.0.1 localhost\n::1 localhost\n10.1.1.1 other\n")
    }

    @Test(arguments: ["", "127.0.0.1 localhost", "127.0.0.1 localhost\n", "a\r\nb\r\n", "x\n\n\ny", "# BEGIN enclave-init\nunterminated"])
    func renderingIsIdempotent(_ existing: String) {
        let once = HostsFile.render(existing: existing, entries: entries)
        #expect(HostsFile.render(existing: once, entries: entries) == once)
    }

    @Test func keepsCRLFLineEndings() {
        let existing = "127.0.0.1 localhost\r\n::1 localhost\r\n10.0.0.1 a\r\n"
        let rendered = HostsFile.render(existing: existing, entries: entries)
        #expect(rendered == block.replacingOccurrences(of: "\n", with: "\r\n") + "\r\n" + existing)
        #expect(!rendered.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
    }

    @Test func handlesAMissingTrailingNewline() {
        let rendered = HostsFile.render(existing: "127.0.0.1 localhost\n::1 localhost\n10.0.0.1 last-line", entries: entries)
        #expect(rendered.hasSuffix("\n10.0.0.1 last-line\n"))
    }

    @Test func updateWritesAtomicallyAndThenChangesNothing() throws {
        let directory = NSTemporaryDirectory() + "hosts-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/hosts"
        try "127.0.0.1 localhost\n".write(toFile: path, atomically: true, encoding: .utf8)
        let inodeBefore = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int

        #expect(try HostsFile.update(path: path, entries: entries) == .replaced)
        let inodeAfter = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? Int
        #expect(inodeBefore != inodeAfter) // a new file was renamed into place
        let written = try String(contentsOfFile: path, encoding: .utf8)
        #expect(try HostsFile.update(path: path, entries: entries) == .unchanged)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == written)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["hosts"]) // no temporary file left
    }

    @Test func aMissingHostsFileIsCreatedAndAMissingDirectoryIsAClearError() throws {
        let directory = NSTemporaryDirectory() + "hosts-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try HostsFile.update(path: directory + "/hosts", entries: entries) == .replaced)
        do {
            _ = try HostsFile.update(path: directory + "/no/such/dir/hosts", entries: entries)
            Issue.record("writing into a missing directory succeeded")
        } catch {
            guard case .cannotWrite(let path, let errno, "network.hosts_file") = error else { Issue.record("\(error)"); return }
            #expect(path == directory + "/no/such/dir/hosts" && errno == .noSuchFileOrDirectory)
            #expect(error.description == "cannot write \(directory)/no/such/dir/hosts: No such file or directory")
        }
    }
}
