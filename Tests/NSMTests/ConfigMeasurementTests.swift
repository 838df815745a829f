import DocumentReading
import Foundation
@testable import NSM
import Testing
import TestSupport

/// The boot JSON into a PCR: the value against Python's hashlib (nobody's here), and the NSM's
/// answers that must stop the boot. The real NSM's (QEMU's) are in the nitro tier.
@Suite struct ConfigMeasurementTests {
    let config = Array(#"{"version": 1, "app": {"command": ["/app"]}}"#.utf8)

    /// PCRs as the NSM keeps them, for the requests ConfigMeasurement makes.
    final class PCRs {
        var values = [[UInt8]](repeating: [UInt8](repeating: 0, count: 48), count: 32)
        var locked = Set<Int>()
        var refuse: NSMErrorCode?

        func answer(_ request: NSMRequest) -> NSMResponse {
            if let refuse { return .error(refuse) }
            switch request {
            case .describePCR(let index): return .describePCR(lock: locked.contains(Int(index)), data: values[Int(index)])
            case .extendPCR(let index, let data):
                guard !locked.contains(Int(index)) else { return .error(.readOnlyIndex) }
                values[Int(index)] = ConfigMeasurement.digest(values[Int(index)] + data)
                return .extendPCR(data: values[Int(index)])
            case .lockPCR(let index):
                locked.insert(Int(index))
                return .lockPCR
            default: return .error(.invalidOperation)
            }
        }
    }

    @Test func theValueIsSHA384OfZeroesAndTheConfigsDigestAsHashlibComputesIt() throws {
        let scratch = try TemporaryDirectory()
        let path = try scratch.write("boot.json", String(decoding: config, as: UTF8.self))
        let python = try ProcessRunner.run("/usr/bin/python3", ["-c", """
            import hashlib, sys
            data = open(sys.argv[1], "rb").read()
            print(hashlib.sha384(bytes(48) + hashlib.sha384(data).digest()).hexdigest())
            """, path])
        #expect(Hex.string(ConfigMeasurement.expectedValue(of: config)) + "\n" == python.stdout, "\(python.output)")
    }

    @Test func aFreshPCRIsExtendedLockedAndReadBack() throws {
        let pcrs = PCRs()
        let value = try ConfigMeasurement.measure(config, pcr: 16) { pcrs.answer($0) }
        #expect(value == ConfigMeasurement.expectedValue(of: config))
        #expect(pcrs.locked == [16] && pcrs.values[16] == value)
        // A second boot of the same enclave cannot measure again: the PCR is locked.
        #expect { try ConfigMeasurement.measure(config, pcr: 16) { pcrs.answer($0) } } throws: { "\($0)".contains("PCR16 is locked already") }
    }

    @Test func anythingButAFreshPCRStopsTheBoot() throws {
        let extended = PCRs()
        extended.values[20] = [UInt8](repeating: 7, count: 48)
        #expect { try ConfigMeasurement.measure(config, pcr: 20) { extended.answer($0) } } throws: { "\($0)".contains("PCR20 is 0707070707070707…, not fresh") }
        let refusing = PCRs()
        refusing.refuse = .invalidOperation
        #expect { try ConfigMeasurement.measure(config, pcr: 16) { refusing.answer($0) } } throws: { "\($0)" == "reading PCR16: the NSM answered InvalidOperation" }
    }

    @Test func theRequestsAndAnswersAreTheNSMsCBOR() throws {
        #expect(NSMRequest.extendPCR(index: 16, data: [1, 2]).cbor.encoded() == [0xA1, 0x69] + Array("ExtendPCR".utf8) + [0xA2, 0x65] + Array("index".utf8) + [0x10, 0x64] + Array("data".utf8) + [0x42, 1, 2])
        #expect(NSMRequest.lockPCR(index: 17).cbor.encoded() == [0xA1, 0x67] + Array("LockPCR".utf8) + [0xA1, 0x65] + Array("index".utf8) + [0x11])
        #expect(try NSMResponse(cbor: .text("LockPCR")) == .lockPCR)
        #expect(try NSMResponse(cbor: .map([(.text("ExtendPCR"), .map([(.text("data"), .bytes([9]))]))])) == .extendPCR(data: [9]))
    }
}
