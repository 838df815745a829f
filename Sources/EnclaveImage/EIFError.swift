/// Why an enclave image cannot be read or written; each names the part and, for input the user
/// gave, what to do.
public enum EIFError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, errno: Int32)
    case io(path: String, operation: String, errno: Int32)
    case truncated(what: String, needed: UInt64, have: UInt64)
    case notAnEIF(magic: [UInt8])
    case unsupportedVersion(UInt16)
    case tooManySections(Int)
    case sectionOutOfFile(index: Int, offset: UInt64, size: UInt64, fileSize: UInt64)
    case sectionSizeDisagrees(index: Int, header: UInt64, section: UInt64)
    case unknownSectionType(index: Int, type: UInt16)
    case sectionFlags(index: Int, flags: UInt16)
    case duplicateSection(index: Int, type: EIFSectionType)
    case missingSection(EIFSectionType)
    case crcMismatch(stored: UInt32, computed: UInt32)
    case tooLarge(what: String, size: UInt64, limit: UInt64)
    /// The container image given to `build` cannot be read.
    case image(ImageInputError)
    /// nitro-cli's layout needs a command and the image has none.
    case noCommand(image: String)
    /// The EIF would be made, but could not boot (BootCheck): what is wrong and what to do.
    case cannotBoot(String)

    public var description: String {
        func hex(_ value: UInt32) -> String { "0x" + String(value, radix: 16) }
        switch self {
        case .cannotOpen(let path, let code): return "cannot open \(path): \(String(cString: strerror(code)))"
        case .io(let path, let operation, let code): return "\(operation) \(path) failed: \(String(cString: strerror(code)))"
        case .truncated(let what, let needed, let have): return "the file is truncated: \(what) needs \(needed) bytes, \(have) are there"
        case .notAnEIF(let magic):
            return "not an enclave image: it starts with \(magic.map { String($0, radix: 16) }.joined(separator: " ")), not \".eif\" (2e 65 69 66)"
        case .unsupportedVersion(let version): return "EIF version \(version) is not supported (4 or later)"
        case .tooManySections(let count): return "the header lists \(count) sections; an EIF has at most \(EIFHeader.maximumSections)"
        case .sectionOutOfFile(let index, let offset, let size, let fileSize):
            return "section \(index) (at \(offset), \(size) bytes) does not fit in the file (\(fileSize) bytes)"
        case .sectionSizeDisagrees(let index, let header, let section):
            return "section \(index): the header says \(header) bytes, the section's own header \(section)"
        case .unknownSectionType(let index, let type): return "section \(index) has an unknown type \(type) (1-5)"
        case .sectionFlags(let index, let flags): return "section \(index) has flags \(flags); they must be 0"
        case .duplicateSection(let index, let type): return "section \(index) is a second \(type) section"
        case .missingSection(let type): return "the image has no \(type) section"
        case .crcMismatch(let stored, let computed):
            return "CRC mismatch: the header says \(hex(stored)), the file's bytes give \(hex(computed)) (the file was changed or cut after it was built)"
        case .tooLarge(let what, let size, let limit): return "\(what) is \(size) bytes, more than \(limit)"
        case .image(let error): return "\(error)"
        case .cannotBoot(let reason): return "the image cannot boot: \(reason)"
        case .noCommand(let image):
            return "\(image) has no CMD or ENTRYPOINT, and AWS's init needs a command: give it after --, e.g. -- /sbin/enclave-init"
        }
    }
}

import Glibc
