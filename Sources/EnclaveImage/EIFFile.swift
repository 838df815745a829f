import CZlib
import Glibc

/// A file read or written in chunks, with the running CRC-32 (zlib's, as QEMU checks it) and
/// the measurements of what goes past. One chunk at a time is all that is ever in memory.
struct ChunkedFile {
    static let chunkBytes = 1 << 20

    let path: String
    let descriptor: Int32
    private(set) var crc: UInt = 0

    static func open(_ path: String, flags: Int32, mode: mode_t = 0) throws(EIFError) -> ChunkedFile {
        let descriptor = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        return ChunkedFile(path: path, descriptor: descriptor)
    }

    func close() { _ = Glibc.close(descriptor) }

    var size: UInt64 {
        get throws(EIFError) {
            var info = stat()
            guard fstat(descriptor, &info) == 0 else { throw .io(path: path, operation: "stat", errno: errno) }
            return UInt64(info.st_size)
        }
    }

    mutating func addToCRC(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        crc = CZlib.crc32(crc, base.assumingMemoryBound(to: Bytef.self), uInt(bytes.count))
    }

    /// Exactly `count` bytes from `offset`, or an error naming what was cut short.
    func read(_ count: Int, at offset: UInt64, what: String) throws(EIFError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + got, count - got, off_t(offset) + off_t(got)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "reading", errno: errno)
            }
            if n == 0 { throw .truncated(what: what, needed: UInt64(count), have: UInt64(got)) }
            got += n
        }
        return bytes
    }

    /// Writes `bytes`, adds them to the CRC, and hands them to `measure`.
    mutating func append(_ bytes: UnsafeRawBufferPointer, crc: Bool = true, measure: (UnsafeRawBufferPointer) -> Void = { _ in }) throws(EIFError) {
        try write(bytes)
        if crc { addToCRC(bytes) }
        measure(bytes)
    }

    mutating func append(_ array: [UInt8], crc: Bool = true, measure: (UnsafeRawBufferPointer) -> Void = { _ in }) throws(EIFError) {
        var failure: EIFError?
        array.withUnsafeBytes { bytes in
            do throws(EIFError) { try append(bytes, crc: crc, measure: measure) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// The next `size` bytes of the file, a chunk at a time into `body`, through one buffer
    /// that is reused (nothing is copied on the way). A file that ends early is an error.
    func stream(size: UInt64, what: String, into body: (UnsafeRawBufferPointer) throws(EIFError) -> Void) throws(EIFError) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkBytes, alignment: 16)
        defer { buffer.deallocate() }
        var done: UInt64 = 0
        while done < size {
            let n = Glibc.read(descriptor, buffer.baseAddress, Int(min(UInt64(buffer.count), size - done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "reading", errno: errno)
            }
            if n == 0 { throw .truncated(what: what, needed: size, have: done) }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            done += UInt64(n)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(EIFError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, operation: "writing", errno: errno)
            }
            done += n
        }
    }
}
