import SystemPackage

/// Reads a whole small file (a config, /etc/hosts, /etc/passwd, a procfs file) through
/// swift-system. Procfs files report size 0, so it reads until end of file.
public enum FileContents {
    public struct TooLarge: Error, CustomStringConvertible {
        public var limit: Int
        public var description: String { "the file is larger than \(limit) bytes" }
    }

    /// The file's bytes; throws an `Errno`, or `TooLarge` beyond `limit` bytes.
    public static func read(_ path: String, limit: Int) throws -> [UInt8] {
        let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.closeOnExec])
        return try fd.closeAfter {
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
                if count == 0 { return bytes }
                bytes += chunk[..<count]
                if bytes.count > limit { throw TooLarge(limit: limit) }
            }
        }
    }

    /// The file as UTF-8 text (invalid sequences replaced).
    public static func text(_ path: String, limit: Int) throws -> String {
        String(decoding: try read(path, limit: limit), as: UTF8.self)
    }
}
