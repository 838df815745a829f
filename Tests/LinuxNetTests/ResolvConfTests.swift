import Foundation
import LinuxNet
import Testing

@Suite struct ResolvConfTests {
    private let block = """
        # BEGIN enclave-init
        # Managed by enclave-init from its boot JSON: edits inside this block are replaced at boot.
        nameserver 127.0.0.1
        # END enclave-init

        """

    /// The stub comes first (resolvers try nameservers in order); the image's lines stay.
    @Test func theStubIsNamedFirstAndTheImagesLinesAreKept() {
        let existing = "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n"
        let rendered = ResolvConf.render(existing: existing)
        #expect(rendered == block + existing)
        #expect(ResolvConf.render(existing: rendered) == rendered)
        #expect(ResolvConf.render(existing: "") == block)
    }

    @Test func updateWritesOnceThenChangesNothing() throws {
        let directory = NSTemporaryDirectory() + "resolv-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/resolv.conf"
        try "nameserver 192.0.2.53\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try ResolvConf.update(path: path) == .replaced)
        #expect(try ResolvConf.update(path: path) == .unchanged)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == block + "nameserver 192.0.2.53\n")
        do {
            _ = try ResolvConf.update(path: directory + "/missing/resolv.conf")
            Issue.record("writing into a missing directory succeeded")
        } catch {
            guard case .cannotWrite(_, .noSuchFileOrDirectory, "network.resolv_conf") = error else { Issue.record("\(error)"); return }
        }
    }
}
