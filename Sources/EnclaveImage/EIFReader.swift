import BootConfig
import DocumentReading
import Glibc

/// What `describe-eif` reports: the header, every section, the CRC as stored and as the bytes
/// give it, the PCRs, the cmdline and the metadata. Read in one streaming pass with every size
/// checked against the file before anything is allocated, so a corrupt or hostile file costs
/// at most one chunk of memory and ends in an error that names what is wrong.
public struct EIFDescription: Sendable {
    public struct Section: Sendable, Equatable {
        public var type: EIFSectionType
        public var offset: UInt64
        public var size: UInt64
    }

    public var header: EIFHeader
    public var fileSize: UInt64
    public var sections: [Section]
    public var computedCRC: UInt32
    public var measurements: Measurements
    public var cmdline: String
    /// The metadata section's JSON as written (nil: none).
    public var metadata: String?

    public var crcMatches: Bool { computedCRC == header.crc }
    public var isSigned: Bool { sections.contains { $0.type == .signature } }

    /// Larger than any kernel command line Linux takes (COMMAND_LINE_SIZE is 2048 on x86).
    static let maximumCmdline: UInt64 = 64 * 1024
    static let maximumMetadata: UInt64 = 1 << 20

    public static func read(path: String) throws(EIFError) -> EIFDescription {
        var file = try ChunkedFile.open(path, flags: O_RDONLY)
        defer { file.close() }
        let fileSize = try file.size
        // The magic first: a short file that is no image at all is said to be no image.
        let start = try file.read(Int(min(fileSize, 4)), at: 0, what: "the magic")
        guard start == Array(EIFHeader.magic[0..<start.count]) else { throw .notAnEIF(magic: start) }
        guard fileSize >= UInt64(EIFHeader.size) else {
            throw .truncated(what: "the header", needed: UInt64(EIFHeader.size), have: fileSize)
        }
        let headerBytes = try file.read(EIFHeader.size, at: 0, what: "the header")
        let header: EIFHeader
        switch EIFHeader.decode(headerBytes, fileSize: fileSize) {
        case .success(let decoded): header = decoded
        case .failure(let error): throw error
        }
        headerBytes.withUnsafeBytes { file.addToCRC(UnsafeRawBufferPointer(rebasing: $0[0..<EIFHeader.crcOffset])) }

        var sections: [Section] = []
        var measurer = Measurer()
        var cmdline: [UInt8]?
        var metadata: [UInt8]?
        var buffer = [UInt8](repeating: 0, count: ChunkedFile.chunkBytes)
        for (index, placement) in header.sections.enumerated() {
            let raw = try file.read(EIFSectionHeader.size, at: placement.offset, what: "section \(index)'s header")
            raw.withUnsafeBytes { file.addToCRC($0) }
            let sectionHeader = EIFSectionHeader.decode(raw)
            guard let type = EIFSectionType(rawValue: sectionHeader.rawType) else { throw .unknownSectionType(index: index, type: sectionHeader.rawType) }
            guard sectionHeader.flags == 0 else { throw .sectionFlags(index: index, flags: sectionHeader.flags) }
            guard sectionHeader.size == placement.size else {
                throw .sectionSizeDisagrees(index: index, header: placement.size, section: sectionHeader.size)
            }
            if type != .ramdisk, sections.contains(where: { $0.type == type }) { throw .duplicateSection(index: index, type: type) }
            sections.append(Section(type: type, offset: placement.offset, size: placement.size))
            measurer.begin(type)
            var kept: [UInt8]?
            switch type {
            case .cmdline:
                guard placement.size <= maximumCmdline else { throw .tooLarge(what: "the cmdline section", size: placement.size, limit: maximumCmdline) }
                kept = []
            case .metadata:
                guard placement.size <= maximumMetadata else { throw .tooLarge(what: "the metadata section", size: placement.size, limit: maximumMetadata) }
                kept = []
            case .kernel, .ramdisk, .signature:
                break
            }
            var done: UInt64 = 0
            let start = placement.offset + UInt64(EIFSectionHeader.size)
            while done < placement.size {
                let want = Int(min(UInt64(buffer.count), placement.size - done))
                let n = buffer.withUnsafeMutableBytes { pread(file.descriptor, $0.baseAddress, want, off_t(start + done)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw .io(path: path, operation: "reading", errno: errno)
                }
                if n == 0 { throw .truncated(what: "section \(index) (\(type))", needed: placement.size, have: done) }
                buffer.withUnsafeBytes { all in
                    let bytes = UnsafeRawBufferPointer(rebasing: all[0..<n])
                    file.addToCRC(bytes)
                    measurer.update(bytes)
                    kept?.append(contentsOf: bytes)
                }
                done += UInt64(n)
            }
            if type == .cmdline { cmdline = kept }
            if type == .metadata { metadata = kept }
        }
        guard sections.contains(where: { $0.type == .kernel }) else { throw .missingSection(.kernel) }
        guard let cmdline else { throw .missingSection(.cmdline) }
        let text = String(decoding: cmdline, as: UTF8.self)
        var measurements = measurer.finish()
        measurements.config = configPCR(descriptor: file.descriptor, sections: sections, cmdline: text)
        return EIFDescription(header: header, fileSize: fileSize, sections: sections, computedCRC: UInt32(truncatingIfNeeded: file.crc),
                              measurements: measurements, cmdline: text, metadata: metadata.map { String(decoding: $0, as: UTF8.self) })
    }

    /// enclave-init's layout (its boot JSON at the root of the last ramdisk, where the cmdline's
    /// ENCLAVE_INIT_CONFIG= or the default path says): the PCR that boot JSON is measured into at
    /// boot, and its value. nil for nitro-cli's layout (the image under rootfs/, AWS's init) or
    /// a boot JSON that does not decode (the boot would stop at step 2).
    private static func configPCR(descriptor: Int32, sections: [Section], cmdline: String) -> Measurements.ConfigPCR? {
        guard let image = sections.last(where: { $0.type == .ramdisk }), sections.filter({ $0.type == .ramdisk }).count >= 2 else { return nil }
        let path = cmdline.split(separator: " ").first { $0.hasPrefix(BootConfigLoader.environmentVariable + "=") }
            .map { String($0.dropFirst(BootConfigLoader.environmentVariable.count + 1)) } ?? BootConfigLoader.defaultPath
        guard let bytes = CpioReader.file(named: String(path.drop { $0 == "/" }), descriptor: descriptor,
                                          offset: image.offset + UInt64(EIFSectionHeader.size), size: image.size),
              let config = try? BootConfigLoader.decode(bytes, commandRequired: false) else { return nil }
        return Measurements.ConfigPCR(index: config.measure.pcr, value: Measurements.extendFromZero(SHA384.hash(bytes)))
    }

    /// nitro-cli describe-eif's fields (EifVersion, Measurements, IsSigned, CheckCRC, the
    /// metadata's ImageName, ImageVersion and BuildMetadata as Metadata), then the sections.
    public var json: JSONOutput {
        var members: [(String, JSONOutput)] = [("EifVersion", .integer(Int64(header.version))), ("Measurements", measurements.json),
                                               ("IsSigned", .bool(isSigned)), ("CheckCRC", .bool(crcMatches))]
        if let metadata, let node = try? JSONParser.parse(Array(metadata.utf8)), case .object(let fields) = node.value {
            for field in fields where ["ImageName", "ImageVersion"].contains(field.key) {
                if case .string(let text) = field.value.value { members.append((field.key, .string(text))) }
            }
            if let build = fields.first(where: { $0.key == "BuildMetadata" }), case .object(let values) = build.value.value {
                members.append(("Metadata", .object(values.compactMap { member in
                    guard case .string(let text) = member.value.value else { return nil }
                    return (member.key, .string(text))
                })))
            }
        }
        members.append(("Cmdline", .string(cmdline)))
        members.append(("Sections", .array(sections.map { section in
            .object([("Type", .string(section.type.description)), ("Offset", .integer(Int64(section.offset))), ("Size", .integer(Int64(section.size)))])
        })))
        return .object(members)
    }

    /// The human form: one fact a line.
    public var lines: [String] {
        var lines = ["EIF version \(header.version), \(fileSize) bytes, \(sections.count) sections, "
                     + "CRC \(crcMatches ? "ok" : "MISMATCH") (0x\(String(header.crc, radix: 16)))\(isSigned ? ", signed" : ", not signed")"]
        lines.append("PCR0 \(Measurements.hex(measurements.pcr0))")
        lines.append("PCR1 \(Measurements.hex(measurements.pcr1))")
        lines.append("PCR2 \(Measurements.hex(measurements.pcr2))")
        if let config = measurements.config { lines.append("PCR\(config.index) \(Measurements.hex(config.value)) (the image's boot JSON, which enclave-init measures at boot)") }
        lines.append("cmdline \(Self.escapingControls(cmdline))")
        for (index, section) in sections.enumerated() {
            lines.append("section \(index): \(section.type) at \(section.offset), \(section.size) bytes")
        }
        if let metadata { lines.append("metadata \(Self.escapingControls(metadata))") }
        return lines
    }

    /// `text` safe to put on a terminal: every control character (C0, DEL, C1; an escape
    /// sequence starts with one) written as \xNN or \u{NNNN}, and a backslash doubled so no
    /// escape can be faked, so a hostile image cannot move the cursor and write over the PCR
    /// lines above. --json escapes them as JSON does.
    static func escapingControls(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x5C: out += "\\\\"
            case 0x00..<0x20, 0x7F: out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            case 0x80..<0xA0, 0x2028, 0x2029: out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
