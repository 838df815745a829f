import Foundation

/// A nitro-cli blobs folder for tests: a bzImage, init and nsm.ko of patterned bytes (never
/// booted, only measured and packed) and a cmdline.
enum FakeBlobs {
    static func make(at path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (name, size) in [("bzImage", 20_000), ("init", 5000), ("nsm.ko", 3000)] {
            var bytes = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 * 13) })
            if name == "bzImage" { markAsBzImage(&bytes) }
            FileManager.default.createFile(atPath: path + "/" + name, contents: bytes)
        }
        try "console=ttyS0\n".write(toFile: path + "/cmdline", atomically: false, encoding: .utf8)
    }

    /// The Linux boot protocol's header magic, "HdrS" at 0x202, which `build` looks for.
    static func markAsBzImage(_ bytes: inout Data) {
        bytes.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
    }

    /// The boot protocol's kernel_version: a pointer at 0x20E to a string 0x200 further on.
    static func markKernelVersion(_ bytes: inout Data, _ release: String) {
        bytes.replaceSubrange(0x20E..<0x210, with: [0x00, 0x01]) // 0x100: the string is at 0x300
        let text = Array("\(release) (test@build) #1 SMP\0".utf8)
        bytes.replaceSubrange(0x300..<(0x300 + text.count), with: text)
    }
}
