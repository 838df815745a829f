import CZlib
import Glibc

/// Bytes read in order from somewhere (a file, part of a file, a gzip stream over either).
protocol ByteSource {
    /// Up to `buffer.count` bytes; 0 at the end.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageInputError) -> Int
}

extension ByteSource {
    /// Reads `count` bytes (nil: to the end of the source) a chunk at a time into `body`,
    /// through one scratch buffer; a source that ends before `count` is an error naming `what`.
    mutating func readChunks(_ count: UInt64?, what: String,
                             into body: (UnsafeRawBufferPointer) throws(ImageInputError) -> Void = { _ in }) throws(ImageInputError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        defer { buffer.deallocate() }
        var got: UInt64 = 0
        while count.map({ got < $0 }) ?? true {
            let want = Int(min(UInt64(buffer.count), (count ?? UInt64.max) - got))
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]))
            if n == 0 {
                guard let count else { return }
                throw .corrupt(what: what, reason: "it ends after \(got) of \(count) bytes")
            }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            got += UInt64(n)
        }
    }

    /// Exactly `count` bytes, or the error says what was cut short.
    mutating func readExactly(_ count: Int, what: String) throws(ImageInputError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        try readChunks(UInt64(count), what: what) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Reads and drops `count` bytes.
    mutating func skip(_ count: UInt64, what: String) throws(ImageInputError) {
        try readChunks(count, what: what)
    }

    /// Reads and drops the rest (a blob's digest covers every byte of it, padding included).
    mutating func drain() throws(ImageInputError) {
        try readChunks(nil, what: "")
    }
}

/// `length` bytes of a file from `offset` (a blob file, or a member of an image archive),
/// hashed with SHA-256 as they are read so the blob's digest can be checked at its end.
final class FileRange: ByteSource {
    let path: String
    private let descriptor: Int32
    private var position: UInt64
    private var left: UInt64
    private(set) var digest = SHA256()

    init(path: String, offset: UInt64 = 0, length: UInt64? = nil) throws(ImageInputError) {
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        self.path = path
        position = offset
        if let length {
            left = length
        } else {
            var info = stat()
            fstat(descriptor, &info)
            left = UInt64(info.st_size) - min(UInt64(info.st_size), offset)
        }
    }

    deinit { close(descriptor) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageInputError) -> Int {
        guard left > 0, buffer.count > 0 else { return 0 }
        while true {
            let n = pread(descriptor, buffer.baseAddress, Int(min(UInt64(buffer.count), left)), off_t(position))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, errno: errno)
            }
            if n == 0 { throw .corrupt(what: path, reason: "it ends \(left) bytes early") }
            position += UInt64(n)
            left -= UInt64(n)
            digest.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            return n
        }
    }

    /// Where the next read starts in the file.
    var offset: UInt64 { position }

    /// The hex SHA-256 of everything read (call after reading to the end).
    func finishDigest() -> String {
        var copy = digest
        return Measurements.hex(copy.finish())
    }
}

/// Another source, its bytes hashed with SHA-256 as they pass: a layer's diff_id is the digest
/// of its tar uncompressed.
final class DigestingSource<Inner: ByteSource>: ByteSource {
    private var inner: Inner
    private var digest = SHA256()

    init(_ inner: Inner) { self.inner = inner }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageInputError) -> Int {
        let count = try inner.read(into: buffer)
        digest.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        return count
    }

    /// The hex SHA-256 of everything read (call after reading to the end).
    func finishDigest() -> String {
        var copy = digest
        return Measurements.hex(copy.finish())
    }
}

/// A gzip stream over another source, inflated with zlib a buffer at a time. The input buffer is
/// allocated once, so zlib's pointer into it stays valid between reads.
final class GzipSource<Inner: ByteSource>: ByteSource {
    private var inner: Inner
    private let what: String
    private var stream = z_stream()
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
    private var ended = false

    init(_ inner: Inner, what: String) throws(ImageInputError) {
        self.inner = inner
        self.what = what
        // 16 + MAX_WBITS: a gzip header and the largest window (zlib's inflateInit2 macro, spelled out).
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            input.deallocate()
            throw .corrupt(what: what, reason: "zlib cannot start")
        }
    }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImageInputError) -> Int {
        guard !ended, buffer.count > 0 else { return 0 }
        while true {
            if stream.avail_in == 0 {
                let n = try inner.read(into: input)
                if n == 0 { throw .corrupt(what: what, reason: "the gzip stream is cut short") }
                stream.next_in = input.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = uInt(n)
            }
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(buffer.count)
            let status = inflate(&stream, Z_NO_FLUSH)
            let produced = buffer.count - Int(stream.avail_out)
            switch status {
            case Z_STREAM_END:
                ended = true
                return produced
            case Z_OK, Z_BUF_ERROR:
                if produced > 0 { return produced }
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw .corrupt(what: what, reason: "gzip: \(message)")
            }
        }
    }
}
