import Glibc

/// Writes an EIF from its sections in one pass: the layout is known before the first byte (every
/// size is), so the header goes first with its placements, the sections stream after it chunk
/// by chunk while the CRC and the PCRs are computed, and the CRC is written into the header at
/// the end. The file appears under its name only when complete (written beside it, renamed).
public enum EIFWriter {
    public enum Source: Sendable, Equatable {
        case bytes([UInt8])
        case file(path: String)
    }

    public struct Section: Sendable, Equatable {
        public var type: EIFSectionType
        public var source: Source

        public init(_ type: EIFSectionType, _ source: Source) {
            self.type = type
            self.source = source
        }
    }

    public struct Result: Sendable, Equatable {
        public var measurements: Measurements
        public var crc: UInt32
        public var size: UInt64
    }

    /// `sections` in the order nitro-cli writes them: kernel, cmdline, metadata, ramdisks.
    public static func write(_ sections: [Section], to path: String) throws(EIFError) -> Result {
        guard sections.count <= EIFHeader.maximumSections else { throw .tooManySections(sections.count) }
        var inputs: [ChunkedFile?] = []
        defer { for input in inputs { input?.close() } }
        var placements: [EIFHeader.Placement] = []
        var offset = UInt64(EIFHeader.size)
        for section in sections {
            let size: UInt64
            switch section.source {
            case .bytes(let bytes):
                inputs.append(nil)
                size = UInt64(bytes.count)
            case .file(let file):
                let input = try ChunkedFile.open(file, flags: O_RDONLY)
                inputs.append(input)
                size = try input.size
            }
            placements.append(EIFHeader.Placement(offset: offset, size: size))
            offset += UInt64(EIFSectionHeader.size) + size
        }

        var (output, partial) = try createPartial(beside: path)
        var finished = false
        defer {
            output.close()
            if !finished { unlink(partial) }
        }
        var header = EIFHeader(sections: placements)
        let headerBytes = header.encoded()
        try output.append(headerBytes, crc: false)
        headerBytes.withUnsafeBytes { output.addToCRC(UnsafeRawBufferPointer(rebasing: $0[0..<EIFHeader.crcOffset])) }
        var measurer = Measurer()
        for (index, section) in sections.enumerated() {
            measurer.begin(section.type)
            let sectionHeader = EIFSectionHeader(rawType: section.type.rawValue, size: placements[index].size).encoded()
            try output.append(sectionHeader)
            switch section.source {
            case .bytes(let data):
                try output.append(data) { measurer.update($0) }
            case .file:
                guard let input = inputs[index] else { continue }
                try copy(input, size: placements[index].size, into: &output, measurer: &measurer)
            }
        }
        header.crc = UInt32(truncatingIfNeeded: output.crc)
        let crcBytes = Array(header.encoded()[EIFHeader.crcOffset...])
        guard crcBytes.withUnsafeBytes({ pwrite(output.descriptor, $0.baseAddress, 4, off_t(EIFHeader.crcOffset)) }) == 4,
              fsync(output.descriptor) == 0 else {
            throw .io(path: partial, operation: "writing", errno: errno)
        }
        guard rename(partial, path) == 0 else { throw .io(path: path, operation: "renaming \(partial) to", errno: errno) }
        finished = true
        return Result(measurements: measurer.finish(), crc: header.crc, size: offset)
    }

    /// The file the image is written to before it is renamed over `path`: a fresh name beside it
    /// (so the rename stays on one filesystem), created exclusively and without following a
    /// link, so a symlink or file planted where the output goes is never written through.
    private static func createPartial(beside path: String) throws(EIFError) -> (ChunkedFile, String) {
        var attempt = 0
        while true {
            let partial = "\(path).partial-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
            do {
                return (try ChunkedFile.open(partial, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o644), partial)
            } catch .cannotOpen(_, let code) where code == EEXIST && attempt < 8 {
                attempt += 1
            }
        }
    }

    /// Streams `size` bytes of `input` (a file that must not change while it is read).
    private static func copy(_ input: ChunkedFile, size: UInt64, into output: inout ChunkedFile, measurer: inout Measurer) throws(EIFError) {
        try input.stream(size: size, what: "\(input.path) (it shrank while the image was written)") { bytes throws(EIFError) in
            try output.append(bytes) { measurer.update($0) }
        }
    }
}
