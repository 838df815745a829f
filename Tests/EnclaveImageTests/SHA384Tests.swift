@testable import EnclaveImage
import Foundation
import Testing
import TestSupport

/// The streaming SHA-384 (OpenSSL's EVP, fed in pieces) against FIPS 180-4's examples and coreutils' sha384sum.
@Suite struct SHA384Tests {
    private func hex(_ bytes: [UInt8]) -> String { Measurements.hex(bytes) }

    @Test func theFIPSExamples() {
        #expect(hex(SHA384.hash(Array("abc".utf8)))
                == "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
        #expect(hex(SHA384.hash([UInt8]()))
                == "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b")
        let twoBlocks = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
        #expect(hex(SHA384.hash(Array(twoBlocks.utf8)))
                == "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039")
    }

    /// Lengths around the block (128) and the padding boundary (112), fed whole and in uneven pieces.
    @Test func agreesWithSha384sum() throws {
        let directory = try TemporaryDirectory()
        var random = SystemRandomNumberGenerator()
        for length in [1, 111, 112, 113, 127, 128, 129, 239, 240, 256, 1000, 3 << 20] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let path = directory.path + "/data-\(length)"
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
            let expected = try ProcessRunner.run("/usr/bin/sha384sum", [path]).stdout.prefix(96)
            #expect(hex(SHA384.hash(bytes)) == String(expected), "length \(length)")
            var pieces = SHA384()
            var offset = 0, step = 1
            while offset < bytes.count {
                let end = min(bytes.count, offset + step)
                pieces.update(bytes[offset..<end])
                offset = end
                step = step * 3 + 1
            }
            #expect(hex(pieces.finish()) == String(expected), "length \(length) in pieces")
        }
    }
}
