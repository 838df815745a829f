import CBORCoding
import Foundation
import Testing
import TestSupport
@testable import Verifier

/// Documents from real enclaves (fixtures/README.md), verified at their own time; forgeries of
/// them, made by forge.py with cbor2 and cryptography, each refused for its own reason.
@Suite struct VerificationTests {
    static let directory = #filePath.replacingOccurrences(of: "/VerificationTests.swift", with: "")
    static func fixture(_ name: String) throws -> [UInt8] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/fixtures/\(name)"))
        if name.hasSuffix(".b64") {
            let text = String(decoding: data, as: UTF8.self).filter { !$0.isWhitespace }
            return Array(try #require(Data(base64Encoded: text)))
        }
        return Array(data)
    }
    static let documents = ["aws-2022-10-signed.cbor", "aws-2022-10-debug.cbor", "aws-2023-09-debug.b64"]

    static func documentTime(_ bytes: [UInt8]) throws -> Int64 {
        Int64(try AttestationDocument.parse(bytes).payload.timestamp / 1000)
    }

    static func outcome(_ report: VerificationReport, _ name: String) -> Check.Outcome? {
        report.checks.first { $0.name == name }?.outcome
    }

    static func detail(_ report: VerificationReport, _ name: String) -> String {
        report.checks.first { $0.name == name }?.detail ?? "(no \(name) check)"
    }

    @Test(arguments: documents) func aRealDocumentVerifiesAtItsOwnTime(_ name: String) throws {
        let bytes = try Self.fixture(name)
        var expectations = Expectations()
        expectations.allowDebug = true
        let report = Verification.verify(bytes, at: try Self.documentTime(bytes), expecting: expectations)
        #expect(report.verdict == .verified, "\(report.checks)")
        for check in ["structure", "algorithm", "digest", "signature", "root", "chain", "validity now"] {
            #expect(Self.outcome(report, check) == .ok, "\(check): \(Self.detail(report, check))")
        }
    }

    /// The PCRs the report gives are the document's, as cbor2 (not our CBOR) reads them.
    @Test(arguments: documents) func thePCRsAreTheDocumentsAsCbor2ReadsThem(_ name: String) throws {
        let bytes = try Self.fixture(name)
        let scratch = try TemporaryDirectory()
        let path = try scratch.write("document", "")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let script = """
            import cbor2, sys
            outer = cbor2.loads(open(sys.argv[1], "rb").read())
            parts = outer.value if isinstance(outer, cbor2.CBORTag) else outer
            for index, value in sorted(cbor2.loads(parts[2])["pcrs"].items()): print(index, value.hex())
            """
        let result = try ProcessRunner.run(Peers.python, ["-c", script, path])
        #expect(result.status == 0, "\(result.stderr)")
        let report = Verification.verify(bytes, at: try Self.documentTime(bytes), expecting: Expectations())
        let ours = try #require(report.document).payload.pcrs.map { "\($0.index) \(hex($0.value))" }.joined(separator: "\n")
        #expect(ours + "\n" == result.stdout)
    }

    @Test func aDebugModeDocumentIsRefusedUnlessAllowed() throws {
        let bytes = try Self.fixture("aws-2022-10-debug.cbor")
        let time = try Self.documentTime(bytes)
        let refused = Verification.verify(bytes, at: time, expecting: Expectations())
        #expect(refused.verdict == .notExpected)
        #expect(Self.detail(refused, "debug mode").contains("--allow-debug"))
        var allowing = Expectations()
        allowing.allowDebug = true
        #expect(Verification.verify(bytes, at: time, expecting: allowing).verdict == .verified)
    }

    @Test func todayTheLeafHasExpiredAndBeforeItWasNotYetValid() throws {
        let bytes = try Self.fixture("aws-2022-10-signed.cbor")
        let time = try Self.documentTime(bytes)
        let today = Verification.verify(bytes, at: Int64(Date().timeIntervalSince1970), expecting: Expectations())
        #expect(today.verdict == .notAuthentic)
        #expect(Self.outcome(today, "chain") == .ok, "at the document's own time the chain holds")
        #expect(Self.detail(today, "validity now").contains("certificate has expired"), "\(Self.detail(today, "validity now"))")
        let early = Verification.verify(bytes, at: time - 86_400, expecting: Expectations())
        #expect(Self.detail(early, "validity now").contains("certificate is not yet valid"), "\(Self.detail(early, "validity now"))")
    }

    @Test func oneChangedByteAnywhereSignedIsRefused() throws {
        let bytes = try Self.fixture("aws-2022-10-signed.cbor")
        let time = try Self.documentTime(bytes)
        let document = try AttestationDocument.parse(bytes)
        let payloadStart = try #require(Self.range(of: document.payloadBytes, in: bytes)).lowerBound
        let certificateStart = try #require(Self.range(of: document.payload.certificate, in: bytes)).lowerBound
        let bundleStart = try #require(Self.range(of: document.payload.cabundle[1], in: bytes)).lowerBound
        // A PCR's byte, a byte of the leaf's signature value (its last), a bundle certificate's, and
        // the COSE signature's last byte.
        let pcr0Value = try #require(document.payload.pcr(0))
        let pcr0 = try #require(Self.range(of: pcr0Value, in: bytes)).lowerBound
        for (what, offset) in [("PCR0", pcr0 + 5), ("the leaf certificate", certificateStart + document.payload.certificate.count - 2),
                               ("cabundle[1]", bundleStart + 40), ("the signature", bytes.count - 1)] {
            #expect(offset > payloadStart || what == "the signature")
            var forged = bytes
            forged[offset] ^= 0x01
            let report = Verification.verify(forged, at: time, expecting: Expectations())
            #expect(report.verdict == .notAuthentic, "\(what): \(report.checks)")
            #expect(Self.outcome(report, "signature") == .failed || Self.outcome(report, "structure") == .failed,
                    "\(what): \(report.checks)")
        }
    }

    @Test func truncatedOrTrailingBytesAreRefusedAsStructure() throws {
        let bytes = try Self.fixture("aws-2022-10-signed.cbor")
        for forged in [Array(bytes.dropLast()), Array(bytes.prefix(100)), bytes + [0x00], []] {
            let report = Verification.verify(forged, at: 0, expecting: Expectations())
            #expect(report.verdict == .notAuthentic)
            #expect(Self.detail(report, "structure").hasPrefix("document: "), "\(Self.detail(report, "structure"))")
        }
    }

    /// Every certificate re-made with the same names and fresh keys, the payload re-signed:
    /// signature and chain hold; only the pinned root refuses it.
    @Test func aChainRemadeUnderAnotherRootFailsOnlyOnTheRoot() throws {
        let (forged, root) = try Self.forge("remade-chain")
        let time = try Self.documentTime(forged)
        let report = Verification.verify(forged, at: time, expecting: Expectations())
        #expect(report.verdict == .notAuthentic)
        #expect(Self.outcome(report, "signature") == .ok)
        #expect(Self.outcome(report, "chain") == .ok)
        #expect(Self.outcome(report, "root") == .failed)
        #expect(Self.detail(report, "root").contains("not AWS's Nitro root"))
        // Trusting the forger's root (what --root does, for tests) makes the same document pass,
        // and says so.
        let trusting = Verification.verify(forged, root: .replaced(der: root, path: "fake-root.pem"), at: time, expecting: Expectations())
        #expect(trusting.verdict == .verified)
        #expect(trusting.rootReplaced)
        #expect(VerificationOutput.verdictLine(trusting).contains("not AWS's"))
    }

    @Test func aLeafFromOutsideTheBundleIsRefused() throws {
        let (forged, root) = try Self.forge("wrong-issuer")
        let report = Verification.verify(forged, root: .replaced(der: root, path: "fake-root.pem"), at: try Self.documentTime(forged),
                                         expecting: Expectations())
        #expect(report.verdict == .notAuthentic)
        #expect(Self.outcome(report, "signature") == .ok)
        #expect(Self.detail(report, "chain").contains("the leaf is not issued by the bundle's last certificate"))
    }

    @Test func anotherAlgorithmIsRefusedAndTag18IsAccepted() throws {
        let (es256, _) = try Self.forge("es256")
        let refused = Verification.verify(es256, at: 0, expecting: Expectations())
        #expect(refused.verdict == .notAuthentic)
        #expect(Self.detail(refused, "algorithm") == "-7 in the protected header; only ES384 (-35) is accepted")
        let (tagged, _) = try Self.forge("tagged")
        let accepted = Verification.verify(tagged, at: try Self.documentTime(tagged), expecting: Expectations())
        #expect(accepted.verdict == .verified, "\(accepted.checks)")
        #expect(Self.detail(accepted, "structure").contains("tag 18"))
    }

    @Test func theNonceAgeAndPCRsAreCompared() throws {
        let bytes = try Self.fixture("aws-2022-10-signed.cbor")
        let time = try Self.documentTime(bytes)
        let document = try AttestationDocument.parse(bytes).payload
        var expected = Expectations()
        expected.nonce = document.nonce
        expected.maximumAge = 60
        expected.pcrs = [ExpectedPCR(index: 0, value: try #require(document.pcr(0)), source: "--pcr 0"),
                         ExpectedPCR(index: 8, value: try #require(document.pcr(8)), source: "--pcr 8")]
        #expect(Verification.verify(bytes, at: time + 30, expecting: expected).verdict == .verified)

        var wrongNonce = expected
        wrongNonce.nonce = [1, 2, 3]
        let nonce = Verification.verify(bytes, at: time, expecting: wrongNonce)
        #expect(nonce.verdict == .notExpected)
        #expect(Self.detail(nonce, "nonce").hasSuffix("not 010203"))

        let stale = Verification.verify(bytes, at: time + 61, expecting: expected)
        #expect(stale.verdict != .verified)
        #expect(Self.detail(stale, "age") == "61 s old, more than --max-age 60")

        var wrongPCR = expected
        wrongPCR.pcrs = [ExpectedPCR(index: 8, value: [UInt8](repeating: 0xAB, count: 48), source: "--measurements")]
        let pcr = Verification.verify(bytes, at: time, expecting: wrongPCR)
        #expect(pcr.verdict == .notExpected)
        #expect(Self.detail(pcr, "PCR8").contains("--measurements says abab"))

        var missing = expected
        missing.pcrs = [ExpectedPCR(index: 16, value: [UInt8](repeating: 0, count: 48), source: "--pcr 16")]
        #expect(Self.detail(Verification.verify(bytes, at: time, expecting: missing), "PCR16") == "the document has no PCR16")
    }

    /// A verifier is attacked with crafted input: random damage to a real document never
    /// crashes it and never passes.
    @Test func randomDamageNeverCrashesAndNeverPasses() throws {
        let bytes = try Self.fixture("aws-2022-10-signed.cbor")
        let time = try Self.documentTime(bytes)
        var generator = SystemRandomNumberGenerator()
        for round in 0..<300 {
            var forged = bytes
            for _ in 0..<(1 + round % 4) {
                let offset = Int.random(in: 0..<forged.count, using: &generator)
                forged[offset] = UInt8.random(in: 0...255, using: &generator)
            }
            if round % 5 == 0 { forged = Array(forged.prefix(Int.random(in: 0..<forged.count, using: &generator))) }
            guard forged != bytes else { continue }
            #expect(Verification.verify(forged, at: time, expecting: Expectations()).verdict != .verified)
        }
    }

    @Test func lengthsThatClaimMoreThanThereIsAreRefusedWithoutAllocating() {
        // An array of 2^62 items, a byte string of 2^63 bytes, a map of 2^32 entries.
        for forged: [UInt8] in [[0x9B, 0x40, 0, 0, 0, 0, 0, 0, 0], [0x5B, 0x80, 0, 0, 0, 0, 0, 0, 0], [0xBA, 0xFF, 0xFF, 0xFF, 0xFF]] {
            let report = Verification.verify(forged, at: 0, expecting: Expectations())
            #expect(Self.detail(report, "structure").contains("exceeds what is left"), "\(Self.detail(report, "structure"))")
        }
        let huge = [UInt8](repeating: 0x84, count: AttestationDocument.maximumSize + 1)
        #expect(Self.detail(Verification.verify(huge, at: 0, expecting: Expectations()), "structure").contains("more than 65536"))
    }

    /// A second verifier (independent_verify.py: cbor2 and cryptography) agrees on which
    /// documents are authentic: the real ones at their time, today, a day early, every forgery.
    @Test func anIndependentVerifierAgreesOnEveryVerdict() throws {
        var cases: [(String, [UInt8], Int64)] = []
        for name in Self.documents {
            let bytes = try Self.fixture(name)
            let time = try Self.documentTime(bytes)
            cases += [(name, bytes, time), ("\(name) today", bytes, Int64(Date().timeIntervalSince1970)), ("\(name) a day early", bytes, time - 86_400)]
        }
        let signed = try Self.fixture("aws-2022-10-signed.cbor")
        let time = try Self.documentTime(signed)
        for kind in ["remade-chain", "wrong-issuer", "es256", "tagged"] { cases.append((kind, try Self.forge(kind).0, time)) }
        for offset in [200, 1000, 3000, signed.count - 1] {
            var forged = signed
            forged[offset] ^= 0x10
            cases.append(("byte \(offset) changed", forged, time))
        }
        let scratch = try TemporaryDirectory()
        let fingerprint = hex(TrustedRoot.awsFingerprint)
        for (name, bytes, at) in cases {
            let path = scratch.path + "/document"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let python = try ProcessRunner.run(Peers.python, ["\(Self.directory)/independent_verify.py", path, String(at), fingerprint])
            #expect(python.status == 0, "\(name): \(python.stderr)")
            let theirs = python.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let ours = Verification.verify(bytes, at: at, expecting: Expectations())
            let authentic = !ours.checks.contains { $0.kind == .authenticity && $0.outcome == .failed }
            #expect(authentic == (theirs == "authentic"), "\(name): ours \(authentic ? "authentic" : "not authentic"), theirs \(theirs)")
        }
    }

    static func range(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start..<(start + needle.count)
        }
        return nil
    }

    /// forge.py KIND on the signed fixture: the forged document and the forger's root (DER).
    static func forge(_ kind: String) throws -> ([UInt8], [UInt8]) {
        let scratch = try TemporaryDirectory()
        let result = try ProcessRunner.run(Peers.python, ["\(directory)/forge.py", kind, "\(directory)/fixtures/aws-2022-10-signed.cbor",
                                                          scratch.path + "/forged", scratch.path + "/root.pem"])
        try #require(result.status == 0, "forge.py \(kind): \(result.stderr)")
        let forged = Array(try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/forged")))
        let pem = (try? Data(contentsOf: URL(fileURLWithPath: scratch.path + "/root.pem"))).map(Array.init) ?? []
        guard !pem.isEmpty else { return (forged, []) }
        let root = try #require(Certificate(pemOrDER: pem))
        return (forged, root.der)
    }
}
