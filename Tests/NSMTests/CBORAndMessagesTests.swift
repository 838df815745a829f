@testable import NSM
import CBORCoding
import Testing

@Suite struct CBORAndMessagesTests {
    /// Encodings from RFC 8949 appendix A, both ways.
    @Test(arguments: [
        (CBOR.unsigned(0), [0x00]), (.unsigned(23), [0x17]), (.unsigned(24), [0x18, 0x18]), (.unsigned(1000), [0x19, 0x03, 0xE8]),
        (.unsigned(1_000_000), [0x1A, 0x00, 0x0F, 0x42, 0x40]),
        (.unsigned(1_000_000_000_000), [0x1B, 0x00, 0x00, 0x00, 0xE8, 0xD4, 0xA5, 0x10, 0x00]),
        (.negative(0), [0x20]), (.negative(99), [0x38, 0x63]),
        (.bytes([1, 2, 3, 4]), [0x44, 1, 2, 3, 4]), (.text("IETF"), [0x64, 0x49, 0x45, 0x54, 0x46]), (.text("ü"), [0x62, 0xC3, 0xBC]),
        (.array([.unsigned(1), .array([.unsigned(2), .unsigned(3)])]), [0x82, 0x01, 0x82, 0x02, 0x03]),
        (.map([(.text("a"), .unsigned(1))]), [0xA1, 0x61, 0x61, 0x01]),
        (.bool(false), [0xF4]), (.bool(true), [0xF5]), (.null, [0xF6]),
        (.tagged(18, .array([])), [0xD2, 0x80]),
    ] as [(CBOR, [UInt8])])
    func itemsEncodeAndDecodeAsTheRFCSays(_ item: CBOR, _ bytes: [UInt8]) throws {
        #expect(item.encoded() == bytes)
        #expect(try CBOR.decode(bytes) == item)
    }

    @Test func brokenInputIsAnErrorNotACrash() {
        let cases: [[UInt8]] = [
            [], [0x18], [0x44, 1, 2], [0x62, 0xC3], [0x62, 0xC3, 0x28], // truncated, bad UTF-8
            [0x9F, 0xFF], [0x5F, 0xFF], [0x1C], // indefinite lengths, reserved
            [0xFB, 0, 0, 0, 0, 0, 0, 0, 0], // a float
            [0x01, 0x02], // trailing bytes
            [0x9B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], // an array "longer" than the input
            Array(repeating: 0x81, count: 100) + [0x01], // nested too deep
        ]
        for bytes in cases {
            #expect(throws: CBOR.DecodingError.self, "\(bytes.prefix(10))") { try CBOR.decode(bytes) }
        }
    }

    @Test func requestsHaveTheNSMsSerdeForm() throws {
        #expect(NSMRequest.getRandom.cbor.encoded() == [0x69] + Array("GetRandom".utf8))
        #expect(NSMRequest.describeNSM.cbor == .text("DescribeNSM"))
        #expect(NSMRequest.describePCR(index: 4).cbor == .map([(.text("DescribePCR"), .map([(.text("index"), .unsigned(4))]))]))
        let attestation = NSMRequest.attestation(userData: [1], nonce: nil, publicKey: [2, 3]).cbor
        #expect(attestation["Attestation"]?["user_data"] == .bytes([1]))
        #expect(attestation["Attestation"]?["nonce"] == .null)
        #expect(attestation["Attestation"]?["public_key"] == .bytes([2, 3]))
        #expect(try CBOR.decode(attestation.encoded()) == attestation)
    }

    @Test func responsesDecodeAndEveryErrorCodeIsNamed() throws {
        #expect(try NSMResponse(cbor: .map([(.text("Attestation"), .map([(.text("document"), .bytes([9, 9]))]))])) == .attestation(document: [9, 9]))
        #expect(try NSMResponse(cbor: .map([(.text("GetRandom"), .map([(.text("random"), .bytes([7]))]))])) == .getRandom(random: [7]))
        #expect(try NSMResponse(cbor: .map([(.text("DescribePCR"), .map([(.text("lock"), .bool(true)), (.text("data"), .bytes([0]))]))]))
                == .describePCR(lock: true, data: [0]))
        let describe = CBOR.map([(.text("DescribeNSM"), .map([
            (.text("version_major"), .unsigned(1)), (.text("version_minor"), .unsigned(0)), (.text("version_patch"), .unsigned(0)),
            (.text("module_id"), .text("i-0abc-enc0")), (.text("max_pcrs"), .unsigned(32)), (.text("locked_pcrs"), .array([.unsigned(0), .unsigned(1)])),
            (.text("digest"), .text("SHA384")),
        ]))])
        #expect(try NSMResponse(cbor: describe) == .describeNSM(versionMajor: 1, versionMinor: 0, versionPatch: 0, moduleID: "i-0abc-enc0",
                                                                maxPCRs: 32, lockedPCRs: [0, 1], digest: "SHA384"))
        for code in NSMErrorCode.allCases {
            #expect(try NSMResponse(cbor: .map([(.text("Error"), .text(code.rawValue))])) == .error(code))
        }
        #expect(try NSMResponse(cbor: .map([(.text("Error"), .text("SomethingNew"))])) == .unknownError("SomethingNew"))
        for bad: CBOR in [.text("GetRandom"), .map([]), .map([(.text("Attestation"), .map([]))]), .map([(.text("Nope"), .null)]),
                          .map([(.text("GetRandom"), .map([(.text("random"), .text("x"))]))])] {
            #expect(throws: NSMResponse.Malformed.self) { try NSMResponse(cbor: bad) }
        }
    }
}

extension CBOR: CustomTestStringConvertible {
    public var testDescription: String { "\(encoded().prefix(12))" }
}
