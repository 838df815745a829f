@testable import EnclaveImage
import Foundation
import Testing
import TestSupport

/// EIF files written and read here, checked by tools nobody here wrote: Python's zlib.crc32 for
/// the CRC, dd and sha384sum over the sections for the PCRs; and read back through every way a
/// file can be broken.
@Suite struct EIFTests {
    let directory: TemporaryDirectory
    init() throws { directory = try TemporaryDirectory() }

    private func file(_ name: String, _ bytes: [UInt8]) -> String {
        let path = directory.path + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    private func random(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// kernel, cmdline, metadata, two ramdisks: nitro-cli's order.
    private func writeImage(ramdisks: Int = 2) throws -> (path: String, result: EIFWriter.Result, parts: [[UInt8]]) {
        let kernel = random(300_000), cmdline = Array("reboot=k panic=30 pci=off console=ttyS0".utf8)
        let metadata = Array(#"{"ImageName":"test","ImageVersion":"1","BuildMetadata":{"BuildTool":"enclave-init"}}"#.utf8)
        let disks = (0..<ramdisks).map { random(100_000 + 7 * $0) }
        var sections = [EIFWriter.Section(.kernel, .file(path: file("kernel", kernel))), EIFWriter.Section(.cmdline, .bytes(cmdline)),
                        EIFWriter.Section(.metadata, .bytes(metadata))]
        for (index, disk) in disks.enumerated() { sections.append(EIFWriter.Section(.ramdisk, .file(path: file("ramdisk\(index)", disk)))) }
        let path = directory.path + "/image.eif"
        let result = try EIFWriter.write(sections, to: path)
        return (path, result, [kernel, cmdline] + disks)
    }

    private func python(_ script: String, _ arguments: [String]) throws -> String {
        let result = try ProcessRunner.run("/usr/bin/env", ["python3", "-c", script] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func pythonsZlibAgreesWithTheCRCAndTheHeaderLayout() throws {
        let (path, result, _) = try writeImage()
        let answer = try python("""
            import sys, struct, zlib
            data = open(sys.argv[1], 'rb').read()
            magic, version, flags, mem, cpus, reserved, count = struct.unpack('>4sHHQQHH', data[:28])
            offsets = struct.unpack('>32Q', data[28:284]); sizes = struct.unpack('>32Q', data[284:540])
            stored = struct.unpack('>I', data[544:548])[0]
            types = [struct.unpack('>HHQ', data[offsets[i]:offsets[i] + 12]) for i in range(count)]
            print(magic.decode(), version, flags, count, stored == zlib.crc32(data[:544] + data[548:]), stored,
                  [t[0] for t in types], all(types[i][2] == sizes[i] for i in range(count)), len(data))
            """, [path])
        #expect(answer == ".eif 4 0 5 True \(result.crc) [1, 2, 5, 3, 3] True \(result.size)")
    }

    @Test func sha384sumOverTheSectionsCutWithDdGivesThePCRs() throws {
        let (path, result, _) = try writeImage()
        let description = try EIFDescription.read(path: path)
        // Each section's data, cut out of the image by offset; then PCR = sha384(48 zero bytes || sha384(data)).
        func pcr(_ indices: [Int]) throws -> String {
            let cuts = indices.map { index in
                let section = description.sections[index]
                return "dd if=\(path) bs=1M iflag=skip_bytes,count_bytes skip=\(section.offset + 12) count=\(section.size) status=none"
            }.joined(separator: "; ")
            let script = "{ head -c 48 /dev/zero; { \(cuts); } | sha384sum | cut -c1-96 | xxd -r -p; } | sha384sum | cut -c1-96"
            return try ProcessRunner.run("/bin/sh", ["-c", script]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // Sections: 0 kernel, 1 cmdline, 2 metadata (not measured), 3 and 4 ramdisks.
        #expect(try pcr([0, 1, 3, 4]) == Measurements.hex(result.measurements.pcr0))
        #expect(try pcr([0, 1, 3]) == Measurements.hex(result.measurements.pcr1))
        #expect(try pcr([4]) == Measurements.hex(result.measurements.pcr2))
        #expect(description.measurements == result.measurements, "the reader measures what the writer did")
        #expect(description.crcMatches)
    }

    /// With one ramdisk, PCR2 measures nothing: the known constant.
    @Test func oneRamdiskGivesTheEmptyPCR2() throws {
        let (_, result, _) = try writeImage(ramdisks: 1)
        #expect(Measurements.hex(result.measurements.pcr2)
                == "21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a")
    }

    @Test func theSameInputsGiveTheSameBytes() throws {
        let kernel = file("k", random(5000)), disk = file("d", random(5000))
        let sections = [EIFWriter.Section(.kernel, .file(path: kernel)), EIFWriter.Section(.cmdline, .bytes(Array("x".utf8))),
                        EIFWriter.Section(.ramdisk, .file(path: disk))]
        _ = try EIFWriter.write(sections, to: directory.path + "/a.eif")
        _ = try EIFWriter.write(sections, to: directory.path + "/b.eif")
        #expect(FileManager.default.contents(atPath: directory.path + "/a.eif") == FileManager.default.contents(atPath: directory.path + "/b.eif"))
    }

    /// A symlink planted where the old fixed partial name was (OUTPUT.partial), pointing at a
    /// file of the builder's: the image is written under a fresh name created exclusively, the
    /// planted file is never written through, and nothing partial is left.
    @Test func aPlantedSymlinkBesideTheOutputIsNeverWrittenThrough() throws {
        let victim = file("victim", Array("keep me\n".utf8))
        let out = directory.path + "/planted.eif"
        try FileManager.default.createSymbolicLink(atPath: out + ".partial", withDestinationPath: victim)
        let kernel = file("k2", random(5000))
        _ = try EIFWriter.write([EIFWriter.Section(.kernel, .file(path: kernel)), EIFWriter.Section(.cmdline, .bytes(Array("x".utf8)))], to: out)
        #expect(FileManager.default.contents(atPath: victim) == Data("keep me\n".utf8))
        #expect(try EIFDescription.read(path: out).sections.count == 2)
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".partial-") }
        #expect(left.isEmpty, "\(left)")
    }

    /// A hostile image whose cmdline and metadata carry terminal escapes (cursor up, erase the
    /// line, a forged PCR0): the human output shows them escaped, with no control character.
    @Test func escapesInTheCmdlineAndMetadataAreShownNotObeyed() throws {
        let forged = "\u{1B}[3A\u{1B}[2KPCR0 " + String(repeating: "0", count: 96) + "\r"
        let kernel = file("k3", random(5000))
        let path = directory.path + "/hostile.eif"
        _ = try EIFWriter.write([EIFWriter.Section(.kernel, .file(path: kernel)), EIFWriter.Section(.cmdline, .bytes(Array(("console=ttyS0 " + forged).utf8))),
                                 EIFWriter.Section(.metadata, .bytes(Array(#"{"ImageName":"a\u001b]0;title\u0007\u009b"}"#.utf8)))], to: path)
        let lines = try EIFDescription.read(path: path).lines
        for line in lines {
            #expect(!line.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || (0x80..<0xA0).contains($0.value) }, "\(line.debugDescription)")
        }
        #expect(lines.contains("cmdline console=ttyS0 \\x1b[3A\\x1b[2KPCR0 " + String(repeating: "0", count: 96) + "\\x0d"), "\(lines)")
        #expect(lines.filter { $0.hasPrefix("PCR0 ") }.count == 1)
        #expect(EIFDescription.escapingControls("a\\x1b") == "a\\\\x1b", "a backslash is doubled: an escape cannot be faked")
    }

    // MARK: - Broken files

    private func corrupt(_ mutate: (inout [UInt8]) -> Void) throws -> Result<EIFDescription, EIFError> {
        let (path, _, _) = try writeImage()
        var bytes = [UInt8](FileManager.default.contents(atPath: path)!)
        mutate(&bytes)
        let broken = file("broken.eif", bytes)
        do { return .success(try EIFDescription.read(path: broken)) } catch { return .failure(error) }
    }

    private func put<Integer: FixedWidthInteger>(_ value: Integer, at offset: Int, in bytes: inout [UInt8]) {
        var encoded: [UInt8] = []
        encoded.appendBigEndian(value)
        bytes.replaceSubrange(offset..<(offset + encoded.count), with: encoded)
    }

    @Test func aChangedByteIsACRCMismatch() throws {
        guard case .success(let description) = try corrupt({ $0[20_000] ^= 0xff }) else { Issue.record("not read"); return }
        #expect(!description.crcMatches)
    }

    @Test func brokenHeadersAndSectionsAreNamedErrors() throws {
        #expect(try corrupt { $0[0] = 0x7f } == .failure(.notAnEIF(magic: [0x7f, 0x65, 0x69, 0x66])))
        #expect(try corrupt { $0.removeSubrange(400...) } == .failure(.truncated(what: "the header", needed: 548, have: 400)))
        #expect(try corrupt { self.put(UInt16(3), at: 4, in: &$0) } == .failure(.unsupportedVersion(3)))
        #expect(try corrupt { self.put(UInt16(33), at: 26, in: &$0) } == .failure(.tooManySections(33)))
        guard case .failure(.sectionOutOfFile(index: 0, _, size: UInt64.max, _)) = try corrupt({ self.put(UInt64.max, at: 284, in: &$0) }) else {
            Issue.record("an absurd size is not refused before it is read"); return
        }
        guard case .failure(.sectionOutOfFile) = try corrupt({ $0.removeLast(1000) }) else { Issue.record("a cut file is read"); return }
        // The header's size for section 1 (the cmdline) one byte short of the section's own.
        let mismatch = try corrupt { bytes in
            let size = bytes.bigEndian(UInt64.self, at: 284 + 8)
            self.put(size - 1, at: 284 + 8, in: &bytes)
        }
        guard case .failure(.sectionSizeDisagrees(index: 1, _, _)) = mismatch else { Issue.record("\(mismatch)"); return }
        // Section 1's type changed to 9.
        let unknown = try corrupt { bytes in
            let offset = Int(bytes.bigEndian(UInt64.self, at: 28 + 8))
            self.put(UInt16(9), at: offset, in: &bytes)
        }
        #expect(unknown == .failure(.unknownSectionType(index: 1, type: 9)))
    }
}
extension Result: @retroactive Equatable where Success == EIFDescription, Failure == EIFError {
    public static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.failure(let a), .failure(let b)): return a == b
        default: return false
        }
    }
}
