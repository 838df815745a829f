import Foundation
import Testing
import TestSupport

/// `build` refuses an image that cannot boot (exit 65, what is wrong and what to do), before it
/// writes anything: the real binary, as a user runs it. Images are directories, or made by
/// umoci and Python's tarfile (docker save's layout), never by this code.
@Suite(.serialized) struct BootCheckTests {
    let directory: TemporaryDirectory
    var blobs: String { directory.path + "/blobs" }
    var root: String { directory.path + "/root" }

    init() throws {
        directory = try TemporaryDirectory()
        try FakeBlobs.make(at: blobs)
        let fm = FileManager.default
        for folder in ["root/etc/enclave-init", "root/usr/bin", "root/opt", "out"] {
            try fm.createDirectory(atPath: directory.path + "/" + folder, withIntermediateDirectories: true)
        }
        try "#!/bin/sh\n".write(toFile: root + "/usr/bin/python3.11", atomically: false, encoding: .utf8)
        chmod(root + "/usr/bin/python3.11", 0o755)
        try fm.createSymbolicLink(atPath: root + "/usr/bin/python3", withDestinationPath: "python3.11")
        try "data\n".write(toFile: root + "/opt/not-executable", atomically: false, encoding: .utf8)
    }

    private func bootJSON(_ text: String) throws {
        try text.write(toFile: root + "/etc/enclave-init/boot.json", atomically: false, encoding: .utf8)
    }

    private func build(_ image: String, kernel: Bool = true, extra: [String] = []) throws -> ProcessResult {
        let layout = kernel ? ["--kernel", blobs + "/bzImage", "--init", blobs + "/init"] : ["--blobs", blobs]
        return try ProcessRunner.enclaveInit(["build", "--image", image, "--output", directory.path + "/out/image.eif"] + layout + extra)
    }

    /// Refused with 65, the message, and nothing left in the output folder.
    private func expectRefused(_ result: ProcessResult, saying message: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(result.status == 65, "\(result.output)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(message), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path + "/out").isEmpty, sourceLocation: sourceLocation)
    }

    @Test func anImageThatBootsIsBuiltAndItsCommandFoundThroughASymlinkInPATH() throws {
        try bootJSON(#"{"version": 1, "app": {"command": ["python3", "-c", "print(1)"]}}"#)
        let result = try build(root)
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func withKernelTheBootJSONMustBeInTheImage() throws {
        try expectRefused(try build(root), saying: "the image has no /etc/enclave-init/boot.json, the boot JSON enclave-init reads as the kernel's init: COPY your boot.json")
        // Another path, given on the command line, is looked for there.
        try bootJSON(#"{"version": 1, "app": {"command": ["/usr/bin/python3"]}}"#)
        try expectRefused(try build(root, extra: ["--cmdline", "console=ttyS0 ENCLAVE_INIT_CONFIG=/etc/app.json"]), saying: "the image has no /etc/app.json")
    }

    @Test func withKernelABootJSONThatCheckRefusesIsRefusedWithItsPaths() throws {
        try bootJSON(#"{"version": 1, "app": {"command": ["/usr/bin/python3"]}, "dns": {"vsock_port": "x"}}"#)
        let result = try build(root)
        try expectRefused(result, saying: "the image's /etc/enclave-init/boot.json")
        #expect(result.stderr.contains("dns.vsock_port"), "\(result.stderr)")
        #expect(result.stderr.contains("enclave-init check --config boot.json"), "\(result.stderr)")
    }

    @Test(arguments: [
        (#"["/usr/bin/node"]"#, "app.command of the image's /etc/enclave-init/boot.json (/usr/bin/node): /usr/bin/node is not in the image"),
        (#"["node", "app.js"]"#, "node is not in the image in PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        (#"["/opt/not-executable"]"#, "/opt/not-executable is not executable (mode 644)"),
        (#"["/opt"]"#, "/opt is a directory"),
    ])
    func withKernelAnAppCommandThatIsNotThereIsRefused(_ command: String, _ message: String) throws {
        try bootJSON(#"{"version": 1, "app": {"command": \#(command)}}"#)
        try expectRefused(try build(root), saying: message)
    }

    @Test func withBlobsTheCommandAfterTheDashesMustBeInTheImage() throws {
        try expectRefused(try build(root, kernel: false, extra: ["--", "/usr/bin/ruby"]),
                          saying: "the command after -- (/usr/bin/ruby): /usr/bin/ruby is not in the image")
        let ok = try build(root, kernel: false, extra: ["--env", "PATH=/usr/bin", "--", "python3"])
        #expect(ok.status == 0, "\(ok.output)")
    }

    @Test func aKernelThatIsNotABzImageIsRefused() throws {
        try bootJSON(#"{"version": 1, "app": {"command": ["/usr/bin/python3"]}}"#)
        let result = try ProcessRunner.enclaveInit(["build", "--image", root, "--output", directory.path + "/out/image.eif",
                                                    "--kernel", blobs + "/nsm.ko", "--init", blobs + "/init"])
        try expectRefused(result, saying: "\(blobs)/nsm.ko is not a bzImage (no Linux boot header \"HdrS\" at 0x202)")
    }

    /// docker save piped through gzip: said so, with the fix.
    @Test func aGzippedDockerSaveArchiveIsRefusedWithTheFix() throws {
        let tar = try ProcessRunner.run("/bin/sh", ["-c", "cd \(root) && tar -cf \(directory.path)/plain.tar . && gzip -c \(directory.path)/plain.tar > \(directory.path)/image.tar.gz"])
        #expect(tar.status == 0, "\(tar.stderr)")
        try expectRefused(try build(directory.path + "/image.tar.gz", kernel: false), saying: "is gzip-compressed (docker save | gzip makes these): gunzip it first")
    }

    /// Two images in one OCI layout (umoci, tags "a" and "b"): refused naming both, chosen by :TAG.
    @Test func anOCILayoutWithSeveralImagesIsChosenByTagNeverTheFirst() throws {
        let script = """
            set -e; cd \(directory.path)
            umoci init --layout two >/dev/null
            for tag in a b; do
              umoci new --image two:$tag >/dev/null; umoci unpack --image two:$tag u >/dev/null
              mkdir -p u/rootfs/bin; printf '#!/bin/sh\\n' > u/rootfs/bin/app-$tag; chmod 755 u/rootfs/bin/app-$tag
              umoci repack --image two:$tag u >/dev/null; rm -rf u
              umoci config --image two:$tag --config.cmd /bin/app-$tag >/dev/null
            done
            """
        let made = try ProcessRunner.run("/bin/sh", ["-c", script])
        #expect(made.status == 0, "\(made.stderr)")
        let image = directory.path + "/two"
        try expectRefused(try build(image, kernel: false), saying: "holds 2 images (a; b): choose one with --image \(image):TAG")
        try expectRefused(try build(image + ":c", kernel: false), saying: "has no image tagged c (it holds: a; b)")
        let chosen = try build(image + ":b", kernel: false)
        #expect(chosen.status == 0, "\(chosen.output)")
        let description = try ProcessRunner.enclaveInit(["describe-eif", directory.path + "/out/image.eif"])
        #expect(description.status == 0, "\(description.output)")
    }

    /// A docker save archive of two images (docker save a b): refused naming their RepoTags,
    /// chosen by a tag, by name:tag or by the full reference.
    @Test func aDockerSaveOfSeveralImagesIsChosenByTag() throws {
        let script = """
            import hashlib, io, json, os, sys, tarfile
            root = sys.argv[1]
            os.makedirs(root + "/two-save", exist_ok=True)
            images = []
            for name in ("one", "two"):
                out = io.BytesIO()
                with tarfile.open(fileobj=out, mode="w") as t:
                    data = b"#!/bin/sh\\n"; info = tarfile.TarInfo("bin/" + name); info.size = len(data); info.mode = 0o755
                    t.addfile(info, io.BytesIO(data))
                layer = out.getvalue()
                open(root + "/two-save/" + name + ".tar", "wb").write(layer)
                config = json.dumps({"config": {"Cmd": ["/bin/" + name]}, "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}}).encode()
                open(root + "/two-save/" + name + ".json", "wb").write(config)
                images.append({"Config": name + ".json", "RepoTags": ["localhost/app-" + name + ":v1"], "Layers": [name + ".tar"]})
            json.dump(images, open(root + "/two-save/manifest.json", "w"))
            """
        let made = try ProcessRunner.run("/usr/bin/env", ["python3", "-c", script, directory.path])
        #expect(made.status == 0, "\(made.stderr)")
        let archive = directory.path + "/two.tar"
        #expect(try ProcessRunner.run("/bin/sh", ["-c", "cd \(directory.path)/two-save && tar -cf \(archive) ."]).status == 0)
        try expectRefused(try build(archive, kernel: false), saying: "holds 2 images (localhost/app-one:v1; localhost/app-two:v1)")
        try expectRefused(try build(archive + ":v1", kernel: false), saying: "has 2 images tagged v1")
        for tag in ["app-two:v1", "localhost/app-two:v1"] {
            let chosen = try build(archive + ":" + tag, kernel: false)
            #expect(chosen.status == 0, "\(tag): \(chosen.output)")
            try FileManager.default.removeItem(atPath: directory.path + "/out/image.eif")
        }
    }
}
