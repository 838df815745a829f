/// The block buffering SHA-256 and SHA-384 share (FIPS 180-4's padding included): bytes arrive
/// in any amounts, whole blocks go to the compression function straight from the caller's
/// memory, and a partial block waits here for the next bytes.
struct BlockFeeder {
    let blockSize: Int
    private var buffer: [UInt8] = []
    private var length: UInt64 = 0

    init(blockSize: Int) {
        self.blockSize = blockSize
        buffer.reserveCapacity(blockSize)
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ compress: (UnsafeRawPointer) -> Void) {
        length &+= UInt64(bytes.count)
        var start = 0
        if !buffer.isEmpty {
            let taken = min(blockSize - buffer.count, bytes.count)
            buffer += bytes[0..<taken]
            start = taken
            guard buffer.count == blockSize else { return }
            buffer.withUnsafeBytes { compress($0.baseAddress!) }
            buffer.removeAll(keepingCapacity: true)
        }
        while bytes.count - start >= blockSize {
            compress(bytes.baseAddress! + start)
            start += blockSize
        }
        buffer += bytes[start...]
    }

    /// The padding: 0x80, zeros, and the length in bits as a big-endian number of
    /// `lengthBytes` bytes (16 for SHA-384, 8 for SHA-256), filling the last block.
    mutating func finish(lengthBytes: Int, _ compress: (UnsafeRawPointer) -> Void) {
        let bits = length &* 8
        var tail = buffer
        tail.append(0x80)
        while tail.count % blockSize != blockSize - lengthBytes { tail.append(0) }
        tail += [UInt8](repeating: 0, count: lengthBytes - 8) // lengths here fit in 64 bits
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        tail.withUnsafeBytes { all in
            for offset in stride(from: 0, to: all.count, by: blockSize) { compress(all.baseAddress! + offset) }
        }
        buffer.removeAll()
    }
}
