/// A tar stream read entry by entry: ustar headers (checksums verified, base-256 numbers
/// accepted), PAX extended headers (path, linkpath, size, uid, gid, mtime) and GNU long names.
/// Written by hand: no tar library is among the packages here, and only reading is needed.
struct TarReader<Source: ByteSource> {
    struct Entry {
        enum Kind: Equatable {
            case file, hardlink, symlink, characterDevice, blockDevice, directory, fifo
        }
        var name: String
        var kind: Kind
        var mode: UInt32
        var uid: UInt32
        var gid: UInt32
        var size: UInt64
        var mtime: UInt32
        var linkName: String
        var devMajor: UInt32
        var devMinor: UInt32
    }

    private(set) var source: Source
    private let what: String
    /// Data of the current entry not yet read, and its padding to 512 bytes.
    private var dataLeft: UInt64 = 0
    private var padding: UInt64 = 0
    private var globalPax: [String: String] = [:]

    /// The largest entry taken: what the ramdisk's cpio (newc) format can hold, 8 hex digits.
    /// Checked here, before any of it is extracted, and it keeps every size sum far from overflow.
    static var maximumEntrySize: UInt64 { UInt64(UInt32.max) }

    init(_ source: Source, what: String) {
        self.source = source
        self.what = what
    }

    /// The next entry (its data is read with `readData`, or skipped by the next call), or nil
    /// at the end of the archive.
    mutating func next() throws(ImageInputError) -> Entry? {
        try source.skip(dataLeft + padding, what: what)
        dataLeft = 0
        padding = 0
        var pax: [String: String] = [:]
        var longName: String?, longLink: String?
        while true {
            let header = try source.readExactly(512, what: what)
            if header.allSatisfy({ $0 == 0 }) { return nil } // the end (a second zero block may follow)
            guard checksumMatches(header) else { throw .corrupt(what: what, reason: "a tar header's checksum does not match (offset unknown: the stream is not a tar, or damaged)") }
            let size = try number(header, 124, 12, "size")
            let type = header[156]
            guard size <= Self.maximumEntrySize else {
                throw .unsupported(what: "\(what): entry \"\(field(header, 0, 100))\"", reason: "\(size) bytes is more than the ramdisk's cpio format holds (\(Self.maximumEntrySize))")
            }
            let dataPadding = (512 - size % 512) % 512
            switch type {
            case UInt8(ascii: "x"), UInt8(ascii: "g"):
                guard size <= 1 << 20 else { throw .corrupt(what: what, reason: "a PAX header of \(size) bytes") }
                let records = try parsePax(try source.readExactly(Int(size), what: what))
                try source.skip(dataPadding, what: what)
                if type == UInt8(ascii: "x") { pax.merge(records) { $1 } } else { globalPax.merge(records) { $1 } }
                continue
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                guard size <= 64 * 1024 else { throw .corrupt(what: what, reason: "a GNU long name of \(size) bytes") }
                let text = String(decoding: try source.readExactly(Int(size), what: what).prefix { $0 != 0 }, as: UTF8.self)
                try source.skip(dataPadding, what: what)
                if type == UInt8(ascii: "L") { longName = text } else { longLink = text }
                continue
            default:
                break
            }
            let all = globalPax.merging(pax) { $1 }
            var name = field(header, 0, 100)
            let prefix = field(header, 345, 155)
            if Array(header[257..<262]) == Array("ustar".utf8), !prefix.isEmpty { name = prefix + "/" + name }
            name = all["path"] ?? longName ?? name
            let kind: Entry.Kind
            switch type {
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = .file
            case UInt8(ascii: "1"): kind = .hardlink
            case UInt8(ascii: "2"): kind = .symlink
            case UInt8(ascii: "3"): kind = .characterDevice
            case UInt8(ascii: "4"): kind = .blockDevice
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "6"): kind = .fifo
            default:
                throw .unsupported(what: "\(what): entry \"\(name)\"", reason: "tar entry type '\(Character(Unicode.Scalar(type)))' is not supported")
            }
            var entrySize = size
            if let text = all["size"] {
                guard let value = UInt64(text) else { throw .corrupt(what: what, reason: "PAX size \"\(text.prefix(40))\" is not a number") }
                entrySize = value
            }
            guard entrySize <= Self.maximumEntrySize else {
                throw .unsupported(what: "\(what): entry \"\(name)\"", reason: "\(entrySize) bytes is more than the ramdisk's cpio format holds (\(Self.maximumEntrySize))")
            }
            var uid = try number(header, 108, 8, "uid"), gid = try number(header, 116, 8, "gid"), mtime = try number(header, 136, 12, "mtime")
            if let text = all["uid"], let value = UInt64(text) { uid = value }
            if let text = all["gid"], let value = UInt64(text) { gid = value }
            if let text = all["mtime"], let value = UInt64(text.prefix { $0 != "." }) { mtime = value }
            let entry = Entry(name: name, kind: kind, mode: UInt32(truncatingIfNeeded: try number(header, 100, 8, "mode")),
                              uid: UInt32(truncatingIfNeeded: uid), gid: UInt32(truncatingIfNeeded: gid),
                              size: kind == .file ? entrySize : 0, mtime: UInt32(clamping: mtime),
                              linkName: all["linkpath"] ?? longLink ?? field(header, 157, 100),
                              devMajor: UInt32(truncatingIfNeeded: try number(header, 329, 8, "devmajor")),
                              devMinor: UInt32(truncatingIfNeeded: try number(header, 337, 8, "devminor")))
            // Whatever data follows (even for a type that has none) is skipped by the next call.
            dataLeft = entrySize
            padding = (512 - entrySize % 512) % 512
            return entry
        }
    }

    /// The current entry's data, a buffer at a time; 0 at its end.
    mutating func readData(into buffer: UnsafeMutableRawBufferPointer) throws(ImageInputError) -> Int {
        guard dataLeft > 0 else { return 0 }
        let want = Int(min(UInt64(buffer.count), dataLeft))
        let n = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
        if n == 0 { throw .corrupt(what: what, reason: "an entry's data is cut short") }
        dataLeft -= UInt64(n)
        return n
    }

    private func field(_ header: [UInt8], _ offset: Int, _ length: Int) -> String {
        String(decoding: header[offset..<(offset + length)].prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Octal digits (space or NUL terminated), or base-256 when the first byte's top bit is set.
    private func number(_ header: [UInt8], _ offset: Int, _ length: Int, _ name: String) throws(ImageInputError) -> UInt64 {
        let bytes = header[offset..<(offset + length)]
        if let first = bytes.first, first & 0x80 != 0 {
            var value: UInt64 = UInt64(first & 0x7f)
            for byte in bytes.dropFirst() {
                guard value >> 56 == 0 else { throw .corrupt(what: what, reason: "a tar \(name) field overflows") }
                value = value << 8 | UInt64(byte)
            }
            return value
        }
        let digits = bytes.drop { $0 == 32 }.prefix { $0 != 0 && $0 != 32 }
        guard !digits.isEmpty else { return 0 }
        var value: UInt64 = 0
        for digit in digits {
            guard (48...55).contains(digit), value >> 60 == 0 else { throw .corrupt(what: what, reason: "a tar \(name) field is not octal") }
            value = value << 3 | UInt64(digit - 48)
        }
        return value
    }

    private func checksumMatches(_ header: [UInt8]) -> Bool {
        guard let stored = try? number(header, 148, 8, "checksum") else { return false }
        var sum: UInt64 = 0
        for (index, byte) in header.enumerated() { sum += (148..<156).contains(index) ? 32 : UInt64(byte) }
        return sum == stored
    }

    /// "LEN key=value\n" records: LEN counts the whole record, its own digits and the newline
    /// included, so it must reach past the space and end on a newline ("2 x\n" does not).
    private func parsePax(_ bytes: [UInt8]) throws(ImageInputError) -> [String: String] {
        var records: [String: String] = [:]
        var rest = bytes[...]
        while !rest.isEmpty {
            guard let space = rest.prefix(20).firstIndex(of: 32), space > rest.startIndex,
                  rest[rest.startIndex..<space].allSatisfy({ (48...57).contains($0) }),
                  let length = Int(String(decoding: rest[rest.startIndex..<space], as: UTF8.self)),
                  length <= rest.count, rest.startIndex + length - 1 > space, rest[rest.startIndex + length - 1] == 10 else {
                throw .corrupt(what: what, reason: "a malformed PAX record")
            }
            let record = rest[(space + 1)..<(rest.startIndex + length - 1)]
            if let equals = record.firstIndex(of: UInt8(ascii: "=")) {
                records[String(decoding: record[record.startIndex..<equals], as: UTF8.self)] = String(decoding: record[(equals + 1)...], as: UTF8.self)
            }
            rest = rest.dropFirst(length)
        }
        return records
    }
}
