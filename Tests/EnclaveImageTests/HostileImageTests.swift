@testable import EnclaveImage
import Foundation
import Testing
import TestSupport

/// Image inputs are untrusted: the attacks an adversarial review made on `build`, each as it was
/// made, against the real binary (exit codes, nothing outside touched, no scratch left) and the
/// tar reader (randomized PAX records). The images are made by Python's tarfile and json.
@Suite(.serialized) struct HostileImageTests {
    let directory: TemporaryDirectory
    var blobs: String { directory.path + "/blobs" }

    init() throws {
        directory = try TemporaryDirectory()
        try FakeBlobs.make(at: blobs)
    }

    private func python(_ script: String, _ arguments: [String] = []) throws {
        let path = try directory.write("make.py", script)
        let result = try ProcessRunner.run("/usr/bin/env", ["python3", path] + arguments)
        try #require(result.status == 0, "\(result.stderr)")
    }

    /// A docker-save directory at DIR/save: one layer at l1/layer.tar, the config's diff_ids
    /// made for whatever the manifest names (an attacker controls both), and a tar outside the
    /// directory at DIR/outside/backup.tar with a file of the builder's in it.
    static let dockerSave = """
        import hashlib, io, json, os, sys, tarfile
        root, variant = sys.argv[1], sys.argv[2]
        def layer(name, data):
            out = io.BytesIO()
            with tarfile.open(fileobj=out, mode="w") as t:
                info = tarfile.TarInfo(name); info.size = len(data); info.mode = 0o755; t.addfile(info, io.BytesIO(data))
            return out.getvalue()
        os.makedirs(root + "/save/l1", exist_ok=True); os.makedirs(root + "/outside", exist_ok=True)
        mine = layer("etc/hello", b"hello\\n")
        secret = layer("etc/builders-secret", b"the builder's own file\\n")
        open(root + "/save/l1/layer.tar", "wb").write(mine)
        open(root + "/outside/backup.tar", "wb").write(secret)
        named, content = "l1/layer.tar", mine
        if variant == "dotdot":
            named, content = "../outside/backup.tar", secret
        elif variant == "absolute":
            named, content = root + "/outside/backup.tar", secret
        elif variant == "symlink":
            os.remove(root + "/save/l1/layer.tar"); os.symlink("../../outside/backup.tar", root + "/save/l1/layer.tar"); content = secret
        elif variant == "swapped":
            open(root + "/save/l1/layer.tar", "wb").write(secret)  # the config still names the original
        elif variant == "linked":
            os.makedirs(root + "/save/l2", exist_ok=True); os.symlink("../l1/layer.tar", root + "/save/l2/layer.tar"); named = "l2/layer.tar"
        config = json.dumps({"config": {"Cmd": ["/etc/hello"]}, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(content).hexdigest()]}}).encode()
        open(root + "/save/config.json", "wb").write(config)
        json.dump([{"Config": "config.json", "RepoTags": ["t:1"], "Layers": [named]}], open(root + "/save/manifest.json", "w"))
        """

    private func build(_ image: String) throws -> ProcessResult {
        try ProcessRunner.enclaveInit(["build", "--image", image, "--output", directory.path + "/out/image.eif", "--blobs", blobs])
    }

    /// What a refused build must leave: no image, no partial file, no scratch directory.
    private func expectNothingLeft(_ result: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(result.status == 65, "\(result.output)", sourceLocation: sourceLocation)
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/out")
        #expect(left.isEmpty, "left behind: \(left)", sourceLocation: sourceLocation)
    }

    @Test(arguments: [("dotdot", "\"../outside/backup.tar\", which is not a plain path inside the image directory; refused"),
                      ("absolute", "which is not a plain path inside the image directory; refused"),
                      ("symlink", "\"l1/layer.tar\", which resolves through a symlink to"),
                      ("swapped", "l1/layer.tar (rootfs.diff_ids[0] of the config is sha256:")])
    func aDockerSaveDirectoryCannotPullInAFileFromOutsideIt(_ variant: String, _ message: String) throws {
        try FileManager.default.createDirectory(atPath: directory.path + "/out", withIntermediateDirectories: true)
        try python(Self.dockerSave, [directory.path, variant])
        let result = try build(directory.path + "/save")
        try expectNothingLeft(result)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!result.stderr.contains("builders-secret"))
    }

    /// The control: the same directory built as it should be, a layer linked to another inside it.
    @Test func aDockerSaveDirectoryWithLinksInsideItBuilds() throws {
        try FileManager.default.createDirectory(atPath: directory.path + "/out", withIntermediateDirectories: true)
        try python(Self.dockerSave, [directory.path, "linked"])
        let result = try build(directory.path + "/save")
        #expect(result.status == 0, "\(result.output)")
    }

    /// PAX records the review crashed `build` with (SIGILL, exit 132, scratch left behind): a
    /// record shorter than its own length prefix, and a size near 2^64.
    @Test(arguments: [("short record", "2 x\n", "a malformed PAX record"),
                      ("size near 2^64", "29 size=18446744073709551615\n", "18446744073709551615 bytes is more than the ramdisk's cpio format holds"),
                      ("size past cpio", "19 size=4294967296\n", "4294967296 bytes is more than the ramdisk's cpio format holds"),
                      ("length past the end", "99 path=x\n", "a malformed PAX record")])
    func aHostilePAXRecordIsAnErrorNotACrash(_ name: String, _ record: String, _ message: String) throws {
        try FileManager.default.createDirectory(atPath: directory.path + "/out", withIntermediateDirectories: true)
        let script = """
            import hashlib, io, json, os, sys, tarfile
            root, record = sys.argv[1], sys.argv[2].encode()
            def header(name, size, kind):
                info = tarfile.TarInfo(name); info.size = size; info.type = kind
                return info.tobuf(format=tarfile.USTAR_FORMAT)
            body = header("PaxHeaders/x", len(record), tarfile.XHDTYPE) + record + b"\\0" * (-len(record) % 512)
            body += header("etc/x", 1, tarfile.REGTYPE) + b"x" + b"\\0" * 511 + b"\\0" * 1024
            os.makedirs(root + "/save", exist_ok=True)
            open(root + "/save/layer.tar", "wb").write(body)
            config = json.dumps({"config": {"Cmd": ["/x"]}, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(body).hexdigest()]}}).encode()
            open(root + "/save/config.json", "wb").write(config)
            json.dump([{"Config": "config.json", "Layers": ["layer.tar"]}], open(root + "/save/manifest.json", "w"))
            """
        try python(script, [directory.path, record])
        let result = try build(directory.path + "/save")
        try expectNothingLeft(result)
        #expect(result.stderr.contains(message), "\(name): \(result.stderr)")
    }

    /// PAX headers of random records (lengths that lie, sizes of every magnitude, missing "=",
    /// no newline, random bytes), 500 of them through the tar reader: each ends in entries or
    /// an error, never a crash (a crash ends this whole test run).
    @Test func randomPAXRecordsAreReadOrRefusedNeverACrash() throws {
        var generator = SystemRandomNumberGenerator()
        func octal(_ value: Int, _ width: Int) -> [UInt8] {
            let text = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - text.count)) + text).utf8) + [0]
        }
        func header(_ name: String, size: Int, type: UInt8) -> [UInt8] {
            var block = [UInt8](repeating: 0, count: 512)
            block.replaceSubrange(0..<name.utf8.count, with: Array(name.utf8))
            block.replaceSubrange(100..<108, with: octal(0o644, 8))
            block.replaceSubrange(124..<136, with: octal(size, 12))
            block[156] = type
            block.replaceSubrange(257..<263, with: Array("ustar\0".utf8))
            block.replaceSubrange(263..<265, with: Array("00".utf8))
            block.replaceSubrange(148..<156, with: [UInt8](repeating: 32, count: 8))
            let sum = block.reduce(0) { $0 + Int($1) }
            block.replaceSubrange(148..<156, with: octal(sum, 7) + [32])
            return block
        }
        let pieces = ["size=", "path=", "linkpath=", "uid=", "mtime=", "=", "", "x", "18446744073709551616", "4294967295", "-1", "\n", " ", "9", "0"]
        var outcomes = (read: 0, refused: 0)
        for _ in 0..<500 {
            var records: [UInt8] = []
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                var text = ""
                for _ in 0..<Int.random(in: 1...4, using: &generator) { text += pieces.randomElement(using: &generator)! }
                let honest = Bool.random(using: &generator)
                // An honest length counts its own digits: the smallest n with n == digits(n) + 2 + text.
                var honestLength = text.utf8.count + 3
                while honestLength != String(honestLength).count + 2 + text.utf8.count { honestLength += 1 }
                let length = honest ? honestLength : Int.random(in: 0...40, using: &generator)
                records += Array("\(length) \(text)\(honest ? "\n" : "")".utf8)
                if Int.random(in: 0..<4, using: &generator) == 0 { records += (0..<Int.random(in: 1...8, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) } }
            }
            var tar = header("PaxHeaders/x", size: records.count, type: UInt8(ascii: "x")) + records
            tar += [UInt8](repeating: 0, count: (512 - records.count % 512) % 512)
            tar += header("etc/x", size: 3, type: UInt8(ascii: "0")) + Array("abc".utf8) + [UInt8](repeating: 0, count: 509 + 1024)
            let path = try directory.write("random.tar", bytes: tar)
            var reader = TarReader(try FileRange(path: path), what: "random")
            var tree = LayerTree(scratch: directory.path + "/scratch")
            try? FileManager.default.createDirectory(atPath: directory.path + "/scratch", withIntermediateDirectories: true)
            if (try? tree.apply(&reader, layer: "random")) != nil { outcomes.read += 1 } else { outcomes.refused += 1 }
            tree.removeScratch()
        }
        // Both kinds occur: the honest records are read, the lying ones refused.
        #expect(outcomes.read > 0 && outcomes.refused > 0, "\(outcomes)")
    }
}
