import Glibc

/// Why a container image cannot be read: each names the blob, the layer or the entry.
public enum ImageInputError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, errno: Int32)
    case io(path: String, errno: Int32)
    case notAnImage(String)
    case missingBlob(String)
    case digestMismatch(blob: String, actual: String)
    case corrupt(what: String, reason: String)
    case unsafeEntry(layer: String, entry: String, reason: String)
    case unsupported(what: String, reason: String)
    /// A file the image's own index names that is not inside the image directory: an absolute
    /// path, a ".." or a symlink leading out (manifest.json naming "../../backup.tar").
    case outsideImage(member: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let code): return "cannot open \(path): \(String(cString: strerror(code)))"
        case .io(let path, let code): return "reading \(path) failed: \(String(cString: strerror(code)))"
        case .notAnImage(let reason): return "not an image: \(reason)"
        case .missingBlob(let name): return "the image lists \(name), which is not in it"
        case .digestMismatch(let blob, let actual): return "\(blob) does not match its digest (its bytes give sha256:\(actual)): the image is damaged"
        case .corrupt(let what, let reason): return "\(what) is corrupt: \(reason)"
        case .unsafeEntry(let layer, let entry, let reason): return "layer \(layer): entry \"\(entry)\" \(reason); refused"
        case .unsupported(let what, let reason): return "\(what): \(reason)"
        case .outsideImage(let member, let reason): return "the image names \"\(member)\", which \(reason); refused"
        }
    }
}
