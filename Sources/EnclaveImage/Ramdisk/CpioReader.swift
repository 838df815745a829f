import Glibc

/// Finds one file in a newc cpio archive inside an open image (a ramdisk section), reading the
/// headers and skipping the data with pread: `describe-eif` and `verify --eif` read the image's
/// boot JSON this way, whatever the size of the ramdisk. Only what CpioWriter writes (and GNU
/// cpio's newc) is understood; anything else ends the search with nothing found.
enum CpioReader {
    /// The contents of `name` (no leading slash), when it is a regular file of at most `limit` bytes.
    static func file(named name: String, descriptor: Int32, offset: UInt64, size: UInt64, limit: Int = 1 << 20) -> [UInt8]? {
        var at: UInt64 = 0
        while at + 110 <= size {
            var header = [UInt8](repeating: 0, count: 110)
            guard pread(descriptor, &header, 110, off_t(offset + at)) == 110, header.starts(with: Array("070701".utf8)) else { return nil }
            func field(_ index: Int) -> UInt64? { UInt64(String(decoding: header[(6 + index * 8)..<(14 + index * 8)], as: UTF8.self), radix: 16) }
            guard let mode = field(1), let fileSize = field(6), let nameSize = field(11), nameSize > 0, nameSize < 4096 else { return nil }
            var nameBytes = [UInt8](repeating: 0, count: Int(nameSize))
            guard pread(descriptor, &nameBytes, Int(nameSize), off_t(offset + at + 110)) == Int(nameSize) else { return nil }
            let entry = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
            if entry == "TRAILER!!!" { return nil }
            let dataStart = (at + 110 + nameSize + 3) & ~3
            if entry == name || entry == "./" + name {
                guard mode & 0o170000 == 0o100000, fileSize <= UInt64(limit), dataStart + fileSize <= size else { return nil }
                var data = [UInt8](repeating: 0, count: Int(fileSize))
                guard fileSize == 0 || pread(descriptor, &data, Int(fileSize), off_t(offset + dataStart)) == Int(fileSize) else { return nil }
                return data
            }
            at = (dataStart + fileSize + 3) & ~3
        }
        return nil
    }
}
