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

    private let explained = """
        # BEGIN enclave-init
        # Managed by enclave-init from its boot JSON: edits inside this block are replaced at boot.
        nameserver 127.0.0.1
        # The image's nameserver lines below are commented out: nothing in an enclave answers them, and a
        # resolver that tries them after the stub refuses a name would wait seconds for each.
        # END enclave-init

        """

    /// The stub is the only server: the image's nameserver lines are commented out (a resolver
    /// that moves on after the stub's REFUSED would wait for each), its other lines stay.
    @Test func theStubIsTheOnlyServerAndTheImagesOtherLinesAreKept() {
        let existing = "nameserver 10.0.0.2\n  nameserver\t192.0.2.1\nsearch corp.example\noptions edns0 timeout:30 attempts:5\n# nameserver in a comment\n"
        let rendered = ResolvConf.render(existing: existing)
        #expect(rendered == explained + """
            # disabled by enclave-init: nameserver 10.0.0.2
            # disabled by enclave-init:   nameserver\t192.0.2.1
            search corp.example
            options edns0 timeout:30 attempts:5
            # nameserver in a comment

            """)
        #expect(ResolvConf.render(existing: rendered) == rendered)
        #expect(ResolvConf.render(existing: "") == block)
        #expect(ResolvConf.render(existing: "search corp.example\n") == block + "search corp.example\n")
        // Exactly one server is left for a resolver to read: the stub.
        #expect(rendered.split(separator: "\n").filter { $0.hasPrefix("nameserver") } == ["nameserver 127.0.0.1"])
    }

    @Test func updateWritesOnceThenChangesNothing() throws {
        let directory = NSTemporaryDirectory() + "resolv-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/resolv.conf"
        try "nameserver 192.0.2.53\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try ResolvConf.update(path: path) == .replaced)
        #expect(try ResolvConf.update(path: path) == .unchanged)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == explained + "# disabled by enclave-init: nameserver 192.0.2.53\n")
        do {
            _ = try ResolvConf.update(path: directory + "/missing/resolv.conf")
            Issue.record("writing into a missing directory succeeded")
        } catch {
            guard case .cannotWrite(_, .noSuchFileOrDirectory, "network.resolv_conf") = error else { Issue.record("\(error)"); return }
        }
    }
}
