/// The Enclave Image File layout, version 4 (docs/design.md, "Enclave images"): a 548-byte
/// header, then sections, each a 12-byte header followed at once by its data. Every integer is
/// big-endian. The header's CRC-32 covers the whole file but its own four bytes.
public enum EIFSectionType: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    case kernel = 1, cmdline = 2, ramdisk = 3, signature = 4, metadata = 5

    public var description: String {
        switch self {
        case .kernel: return "kernel"
        case .cmdline: return "cmdline"
        case .ramdisk: return "ramdisk"
        case .signature: return "signature"
        case .metadata: return "metadata"
        }
    }
}

public struct EIFHeader: Sendable, Equatable {
    public static let size = 548
    public static let magic: [UInt8] = Array(".eif".utf8)
    public static let maximumSections = 32
    /// Where the CRC sits; the CRC covers every byte before it and every byte after it.
    public static let crcOffset = 544
    public static let currentVersion: UInt16 = 4

    public var version: UInt16 = EIFHeader.currentVersion
    /// Bit 0: aarch64. Zero for x86_64 (QEMU refuses anything else).
    public var flags: UInt16 = 0
    /// Informational: nitro-cli's defaults, 1 GiB and 2 CPUs (run-enclave sets its own).
    public var defaultMemory: UInt64 = 1 << 30
    public var defaultCPUs: UInt64 = 2
    /// The offset of each section's header, and its data's size.
    public var sections: [Placement]
    public var crc: UInt32 = 0

    public struct Placement: Sendable, Equatable {
        public var offset: UInt64
        public var size: UInt64
    }

    public init(sections: [Placement]) { self.sections = sections }

    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.appendBigEndian(version)
        bytes.appendBigEndian(flags)
        bytes.appendBigEndian(defaultMemory)
        bytes.appendBigEndian(defaultCPUs)
        bytes.appendBigEndian(UInt16(0)) // reserved
        bytes.appendBigEndian(UInt16(sections.count))
        for index in 0..<Self.maximumSections { bytes.appendBigEndian(index < sections.count ? sections[index].offset : 0) }
        for index in 0..<Self.maximumSections { bytes.appendBigEndian(index < sections.count ? sections[index].size : 0) }
        bytes.appendBigEndian(UInt32(0)) // unused
        bytes.appendBigEndian(crc)
        return bytes
    }

    /// The header of a file `fileSize` bytes long, checked as far as it can be alone: magic,
    /// version, flags, a section count and placements that fit in the file.
    public static func decode(_ bytes: [UInt8], fileSize: UInt64) -> Result<EIFHeader, EIFError> {
        guard bytes.count >= size else { return .failure(.truncated(what: "the header", needed: UInt64(size), have: UInt64(bytes.count))) }
        guard Array(bytes[0..<4]) == magic else { return .failure(.notAnEIF(magic: Array(bytes[0..<4]))) }
        let version = bytes.bigEndian(UInt16.self, at: 4)
        guard version >= currentVersion else { return .failure(.unsupportedVersion(version)) }
        let flags = bytes.bigEndian(UInt16.self, at: 6)
        let count = Int(bytes.bigEndian(UInt16.self, at: 26))
        guard count <= maximumSections else { return .failure(.tooManySections(count)) }
        var placements: [Placement] = []
        for index in 0..<count {
            let offset = bytes.bigEndian(UInt64.self, at: 28 + 8 * index)
            let sectionSize = bytes.bigEndian(UInt64.self, at: 284 + 8 * index)
            // Overflow-safe: each part is compared with what is left of the file.
            guard offset >= UInt64(size), offset <= fileSize, fileSize - offset >= UInt64(EIFSectionHeader.size),
                  sectionSize <= fileSize - offset - UInt64(EIFSectionHeader.size) else {
                return .failure(.sectionOutOfFile(index: index, offset: offset, size: sectionSize, fileSize: fileSize))
            }
            placements.append(Placement(offset: offset, size: sectionSize))
        }
        var header = EIFHeader(sections: placements)
        header.version = version
        header.flags = flags
        header.defaultMemory = bytes.bigEndian(UInt64.self, at: 8)
        header.defaultCPUs = bytes.bigEndian(UInt64.self, at: 16)
        header.crc = bytes.bigEndian(UInt32.self, at: crcOffset)
        return .success(header)
    }
}

/// The 12 bytes before each section's data.
struct EIFSectionHeader: Equatable {
    static let size = 12
    var rawType: UInt16
    var flags: UInt16 = 0
    var size: UInt64

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.appendBigEndian(rawType)
        bytes.appendBigEndian(flags)
        bytes.appendBigEndian(size)
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> EIFSectionHeader {
        EIFSectionHeader(rawType: bytes.bigEndian(UInt16.self, at: 0), flags: bytes.bigEndian(UInt16.self, at: 2),
                         size: bytes.bigEndian(UInt64.self, at: 4))
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<Integer: FixedWidthInteger>(_ value: Integer) {
        var big = value.bigEndian
        Swift.withUnsafeBytes(of: &big) { append(contentsOf: $0) }
    }

    func bigEndian<Integer: FixedWidthInteger>(_ type: Integer.Type, at offset: Int) -> Integer {
        var value = Integer.zero
        for byte in self[offset..<(offset + MemoryLayout<Integer>.size)] { value = value << 8 | Integer(byte) }
        return value
    }
}
