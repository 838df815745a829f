@testable import EnclaveImage
import Foundation
import Testing
import TestSupport

/// Container images made by tools nobody here wrote — umoci (an OCI layout of three layers: a
/// whiteout, an emptied directory, a hard link, a symlink, a setuid file), tar (the same as an OCI
/// archive), skopeo (the same as a docker save archive), Python's tarfile (hostile layers) — built
/// into EIFs, whose ramdisk GNU cpio then extracts.
@Suite(.serialized) struct ContainerImageTests {
    let directory: TemporaryDirectory
    var blobs: String { directory.path + "/blobs" }

    init() throws {
        directory = try TemporaryDirectory()
        try FakeBlobs.make(at: blobs)
    }

    private func sh(_ script: String) throws -> String {
        let result = try ProcessRunner.run("/bin/sh", ["-c", "set -e; cd \(directory.path); " + script])
        #expect(result.status == 0, "\(script): \(result.stderr)")
        return result.stdout
    }

    /// Three layers with umoci: a base; then etc/b deleted (a whiteout) and opt/old replaced by a
    /// new directory; then a hard link. CMD and ENV in the config.
    private func umociImage() throws -> String {
        _ = try sh("""
            umoci init --layout img >/dev/null; umoci new --image img:t >/dev/null
            umoci unpack --image img:t b >/dev/null
            mkdir -p b/rootfs/etc b/rootfs/opt/old b/rootfs/bin
            echo one > b/rootfs/etc/a; echo gone > b/rootfs/etc/b; echo o > b/rootfs/opt/old/x
            echo s > b/rootfs/bin/su; chmod 4755 b/rootfs/bin/su; ln -s ../etc/a b/rootfs/bin/a
            printf '#!/bin/sh\\n' > b/rootfs/bin/app; chmod 755 b/rootfs/bin/app
            umoci repack --image img:t b >/dev/null; rm -rf b
            umoci unpack --image img:t b >/dev/null
            rm b/rootfs/etc/b; rm -rf b/rootfs/opt/old; mkdir b/rootfs/opt/old; echo new > b/rootfs/opt/old/y
            umoci repack --image img:t b >/dev/null; rm -rf b
            umoci unpack --image img:t b >/dev/null
            ln b/rootfs/etc/a b/rootfs/etc/a-link
            umoci repack --image img:t b >/dev/null; rm -rf b
            umoci config --image img:t --config.cmd /bin/app --config.cmd --flag --config.env K=V >/dev/null
            """)
        return directory.path + "/img"
    }

    private func build(_ image: String, to name: String) throws -> EIFWriter.Result {
        var builder = ImageBuilder(rootfs: image, layout: .nitroCLI(blobs: blobs))
        builder.imageName = "same"
        return try builder.write(to: directory.path + "/" + name)
    }

    /// Extracts ramdisk 1 of `name` with GNU cpio into a folder and returns it.
    private func extract(_ name: String) throws -> String {
        let description = try EIFDescription.read(path: directory.path + "/" + name)
        let section = try #require(description.sections.last { $0.type == .ramdisk })
        let out = directory.path + "/x-" + name
        _ = try sh("mkdir \(out); dd if=\(name) bs=1M iflag=skip_bytes,count_bytes skip=\(section.offset + 12) count=\(section.size) status=none | (cd \(out) && cpio -id --quiet)")
        return out
    }

    @Test func anOCILayoutsLayersAreAppliedInOrder() throws {
        let image = try umociImage()
        _ = try build(image, to: "oci.eif")
        let out = try extract("oci.eif")
        let fm = FileManager.default
        #expect(try String(contentsOfFile: out + "/cmd", encoding: .utf8) == "/bin/app\n--flag\n")
        #expect(try String(contentsOfFile: out + "/env", encoding: .utf8).contains("K=V\n"))
        #expect(fm.fileExists(atPath: out + "/rootfs/etc/a"))
        #expect(!fm.fileExists(atPath: out + "/rootfs/etc/b"), "the whiteout removed etc/b")
        #expect(!fm.fileExists(atPath: out + "/rootfs/opt/old/x"), "the replaced directory lost what the layer below had")
        #expect(try String(contentsOfFile: out + "/rootfs/opt/old/y", encoding: .utf8) == "new\n")
        #expect(try fm.destinationOfSymbolicLink(atPath: out + "/rootfs/bin/a") == "../etc/a")
        #expect((try fm.attributesOfItem(atPath: out + "/rootfs/bin/su")[.posixPermissions] as? Int) == 0o4755)
        let a = try fm.attributesOfItem(atPath: out + "/rootfs/etc/a"), link = try fm.attributesOfItem(atPath: out + "/rootfs/etc/a-link")
        #expect(a[.systemFileNumber] as? Int == link[.systemFileNumber] as? Int, "the hard link is one file")
    }

    /// The same image as an OCI layout, an OCI archive (tar) and a docker save archive (skopeo).
    @Test func everyFormOfTheSameImageGivesTheSamePCRs() throws {
        _ = try umociImage()
        _ = try sh("(cd img && tar -cf ../oci.tar .); skopeo copy -q oci:img:t docker-archive:docker.tar:test:t")
        let layout = try build(directory.path + "/img", to: "a.eif")
        let archive = try build(directory.path + "/oci.tar", to: "b.eif")
        let docker = try build(directory.path + "/docker.tar", to: "c.eif")
        #expect(layout.measurements == archive.measurements)
        #expect(layout.measurements == docker.measurements)
        let again = try build(directory.path + "/img", to: "a.eif")
        #expect(again == layout, "the same inputs give the same file")
    }

    @Test func aDamagedOrIncompleteImageIsNamed() throws {
        let image = try umociImage()
        // The largest blob is a layer: one byte of it changed.
        let layer = try sh("ls -S img/blobs/sha256 | head -1").trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try sh("cp -r img damaged; chmod -R u+w damaged; printf 'X' | dd of=damaged/blobs/sha256/\(layer) bs=1 seek=100 conv=notrunc status=none")
        do {
            _ = try build(directory.path + "/damaged", to: "d.eif")
            Issue.record("a damaged layer was accepted")
        } catch let error {
            let text = "\(error)"
            #expect(text.contains("blobs/sha256/\(layer)") && (text.contains("does not match its digest") || text.contains("corrupt")), "\(text)")
        }
        _ = try sh("cp -r img missing; chmod -R u+w missing; rm missing/blobs/sha256/\(layer)")
        #expect(throws: EIFError.image(.missingBlob("blobs/sha256/\(layer)"))) { try build(directory.path + "/missing", to: "m.eif") }
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/m.eif"))
        _ = image
    }

    /// A layer (made by Python's tarfile: PAX headers, a long name, a hard link, a symlink) with
    /// bytes changed at random, 300 times: each read ends in the layer or an error, never a crash.
    @Test func aGarbledLayerIsAnErrorNeverACrash() throws {
        _ = try sh("""
            python3 -c "
            import tarfile, io
            with tarfile.open('layer.tar', 'w', format=tarfile.PAX_FORMAT) as t:
                for name, data in [('etc/a', b'one'), ('d/' + 'x' * 150, b'long'), ('etc/pax-' + 'y' * 120, b'pax')]:
                    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
                i = tarfile.TarInfo('etc/l'); i.type = tarfile.LNKTYPE; i.linkname = 'etc/a'; t.addfile(i)
                i = tarfile.TarInfo('etc/s'); i.type = tarfile.SYMTYPE; i.linkname = 'a'; t.addfile(i)
            "
            """)
        let original = [UInt8](try #require(FileManager.default.contents(atPath: directory.path + "/layer.tar")))
        var clean = TarReader(try FileRange(path: directory.path + "/layer.tar"), what: "layer")
        var tree = LayerTree(scratch: directory.path)
        try tree.apply(&clean, layer: "layer")
        #expect(tree.sortedNodes.map(\.path) == ["d", "d/" + String(repeating: "x", count: 150), "etc", "etc/a", "etc/l", "etc/pax-" + String(repeating: "y", count: 120), "etc/s"])
        tree.removeScratch()
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                bytes[Int.random(in: 0..<min(bytes.count, 4096), using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            let path = directory.path + "/garbled.tar"
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            var reader = TarReader(try FileRange(path: path), what: "garbled")
            var garbled = LayerTree(scratch: directory.path)
            _ = try? garbled.apply(&reader, layer: "garbled")
            garbled.removeScratch()
        }
    }

    /// An opaque directory (umoci writes per-file whiteouts instead, so Python's tarfile makes
    /// this image): layer 2 empties opt/old of layer 1's files and adds its own, and a whiteout
    /// of a whole directory removes what is under it.
    @Test func anOpaqueDirectoryHidesOnlyTheLayersBelow() throws {
        let script = """
            import tarfile, io, json, hashlib, os
            def layer(entries):
                out = io.BytesIO()
                with tarfile.open(fileobj=out, mode='w') as t:
                    for name, data in entries:
                        info = tarfile.TarInfo(name)
                        if data is None: info.type = tarfile.DIRTYPE; t.addfile(info)
                        else:
                            info.size = len(data); info.mode = 0o755 if name == 'x' else 0o644; t.addfile(info, io.BytesIO(data))
                return out.getvalue()
            def blob(data):
                digest = hashlib.sha256(data).hexdigest()
                open('opq/blobs/sha256/' + digest, 'wb').write(data)
                return {'digest': 'sha256:' + digest, 'size': len(data)}
            os.makedirs('opq/blobs/sha256', exist_ok=True)
            open('opq/oci-layout', 'w').write('{"imageLayoutVersion":"1.0.0"}')
            one = layer([('opt/', None), ('opt/old/', None), ('opt/old/x', b'x'), ('opt/old/sub/', None), ('opt/old/sub/z', b'z'),
                         ('srv/', None), ('srv/data/', None), ('srv/data/a', b'a'), ('keep', b'k'), ('x', b'#!/bin/sh\\n')])
            two = layer([('opt/old/y', b'y'), ('opt/old/.wh..wh..opq', b''), ('srv/.wh.data', b'')])
            config = blob(json.dumps({'config': {'Cmd': ['/x']}}).encode())
            layers = [dict(blob(data), mediaType='application/vnd.oci.image.layer.v1.tar') for data in (one, two)]
            manifest = blob(json.dumps({'schemaVersion': 2, 'config': config, 'layers': layers}).encode())
            json.dump({'schemaVersion': 2, 'manifests': [dict(manifest, mediaType='application/vnd.oci.image.manifest.v1+json')]}, open('opq/index.json', 'w'))
            """
        try script.write(toFile: directory.path + "/opq.py", atomically: false, encoding: .utf8)
        _ = try sh("python3 opq.py")
        _ = try build(directory.path + "/opq", to: "opq.eif")
        let out = try extract("opq.eif")
        let fm = FileManager.default
        #expect(fm.fileExists(atPath: out + "/rootfs/opt/old/y"), "the layer's own file stays")
        #expect(!fm.fileExists(atPath: out + "/rootfs/opt/old/x") && !fm.fileExists(atPath: out + "/rootfs/opt/old/sub"),
                "the opaque marker hid layer 1's contents")
        #expect(!fm.fileExists(atPath: out + "/rootfs/srv/data"), "the whiteout of a directory took its contents")
        #expect(fm.fileExists(atPath: out + "/rootfs/keep") && fm.fileExists(atPath: out + "/rootfs/srv"))
    }

    /// Layers made with Python's tarfile that try to leave the root: refused, naming the entry.
    @Test(arguments: ["../escape", "/etc/absolute", "a/../../b"])
    func anEntryLeavingTheRootIsRefused(_ name: String) throws {
        let script = """
            import tarfile, io, json, hashlib, os, sys
            name = sys.argv[1]
            layer = io.BytesIO()
            with tarfile.open(fileobj=layer, mode='w', format=tarfile.PAX_FORMAT) as t:
                info = tarfile.TarInfo(name); info.size = 2; t.addfile(info, io.BytesIO(b'x\\n'))
            layer = layer.getvalue()
            def blob(data):
                digest = hashlib.sha256(data).hexdigest()
                open('evil/blobs/sha256/' + digest, 'wb').write(data)
                return {'digest': 'sha256:' + digest, 'size': len(data)}
            os.makedirs('evil/blobs/sha256', exist_ok=True)
            open('evil/oci-layout', 'w').write('{"imageLayoutVersion":"1.0.0"}')
            config = blob(json.dumps({'config': {'Cmd': ['/x']}}).encode())
            layerRef = dict(blob(layer), mediaType='application/vnd.oci.image.layer.v1.tar')
            manifest = blob(json.dumps({'schemaVersion': 2, 'config': config, 'layers': [layerRef]}).encode())
            json.dump({'schemaVersion': 2, 'manifests': [dict(manifest, mediaType='application/vnd.oci.image.manifest.v1+json')]}, open('evil/index.json', 'w'))
            """
        _ = try sh("rm -rf evil; python3 -c \"$0\" '\(name)'".replacingOccurrences(of: "$0", with: script.replacingOccurrences(of: "\"", with: "\\\"")))
        do {
            _ = try build(directory.path + "/evil", to: "evil.eif")
            Issue.record("\(name) was accepted")
        } catch let error {
            #expect("\(error)".contains("entry \"\(name)\"") && "\(error)".contains("refused"), "\(error)")
        }
    }
}
