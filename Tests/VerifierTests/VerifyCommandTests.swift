import DocumentReading
import Foundation
import Testing
import TestSupport

/// `enclave-init verify` as a relying party runs it: exit codes that tell "not authentic" from
/// "not the enclave expected" from "no document", JSON for machines, and --help with examples.
@Suite struct VerifyCommandTests {
    static let fixtures = #filePath.replacingOccurrences(of: "/VerifyCommandTests.swift", with: "/fixtures")

    func verify(_ arguments: [String]) throws -> ProcessResult {
        try ProcessRunner.run(ProcessRunner.binary, ["verify"] + arguments)
    }

    @Test func theExitCodeSaysWhichKindOfFailure() throws {
        let signed = "\(Self.fixtures)/aws-2022-10-signed.cbor"
        let verified = try verify(["--document", signed, "--at", "document"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("verdict: verified: AWS's NSM made this document"))

        // Today the leaf (about three hours of validity) is long expired: not authentic.
        let today = try verify(["--document", signed])
        #expect(today.status == 65, "\(today.stdout)")
        #expect(today.stdout.contains("FAIL validity now:"))

        let wrongPCR = try verify(["--document", signed, "--at", "document", "--pcr", "0=" + String(repeating: "00", count: 48)])
        #expect(wrongPCR.status == 68, "\(wrongPCR.stdout)")
        #expect(wrongPCR.stdout.contains("FAIL PCR0: is f4d48b81"))

        let debug = try verify(["--document", "\(Self.fixtures)/aws-2023-09-debug.b64", "--at", "document"])
        #expect(debug.status == 68)
        #expect(try verify(["--document", "\(Self.fixtures)/aws-2023-09-debug.b64", "--at", "document", "--allow-debug"]).status == 0)

        // As an app prints it: hex, with line breaks.
        let scratch = try TemporaryDirectory()
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: signed)))
        let hexText = bytes.map { String(format: "%02x", $0) }.joined().enumerated().map { $0.offset % 64 == 63 ? "\($0.element)\n" : "\($0.element)" }.joined()
        let printed = try verify(["--document", try scratch.write("printed.hex", hexText), "--at", "document"])
        #expect(printed.status == 0, "\(printed.stdout)\(printed.stderr)")

        let missing = try verify(["--document", "/nonexistent/document.cbor"])
        #expect(missing.status == 66)
        #expect(missing.stderr.contains("verify: --document /nonexistent/document.cbor: "))
    }

    @Test func aMeasurementsFileIsCompared() throws {
        let scratch = try TemporaryDirectory()
        let measurements = try scratch.write("pcrs.json", """
            {"Measurements": {"HashAlgorithm": "Sha384 { ... }",
              "PCR0": "f4d48b81a460c9916d1e685119074bf24660afd3e34fae9fca0a0d28d9d5599936332687e6f66fc890ac8cf150142d8b",
              "PCR8": "8790eb3cce6c83d07e84b126dc61ca923333d6f66615c4a79157de48c5ab2418bdc60746ea7b7afbff03a1c6210201cb"}}
            """)
        let result = try verify(["--document", "\(Self.fixtures)/aws-2022-10-signed.cbor", "--at", "document", "--measurements", measurements])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("ok   PCR8: 8790eb3cce6c83d0… as --measurements says"))
        let broken = try scratch.write("broken.json", #"{"Measurements": {"PCR0": "zz"}}"#)
        let refused = try verify(["--document", "\(Self.fixtures)/aws-2022-10-signed.cbor", "--measurements", broken])
        #expect(refused.status == 66)
        #expect(refused.stderr.contains("PCR0 (line 1, column 27): not a hex digest"), "\(refused.stderr)")
    }

    @Test func jsonCarriesTheVerdictTheChecksAndTheFields() throws {
        let result = try verify(["--document", "\(Self.fixtures)/aws-2022-10-signed.cbor", "--at", "document", "--json"])
        #expect(result.status == 0)
        let root = try JSONParser.parse(Array(result.stdout.utf8))
        guard case .object(let members) = root.value else { Issue.record("not an object: \(result.stdout)"); return }
        #expect(members.first { $0.key == "verdict" }?.value.value == .string("verified"))
        let document = members.first { $0.key == "document" }?.value
        #expect(document?.node(at: JSONPath.root / "pcrs" / "0")?.value
                == .string("f4d48b81a460c9916d1e685119074bf24660afd3e34fae9fca0a0d28d9d5599936332687e6f66fc890ac8cf150142d8b"))
    }

    /// --image rebuilds with build's options: the PCRs it expects are the ones `build` printed
    /// for the same image (here compared with a real document's, which differ: exit 68).
    @Test func imageRebuildsAndExpectsWhatBuildMeasures() throws {
        let scratch = try TemporaryDirectory()
        let image = scratch.path + "/image"
        try FileManager.default.createDirectory(atPath: image + "/etc/enclave-init", withIntermediateDirectories: true)
        try #"{"version": 1, "app": {"command": ["/app"]}}"#.write(toFile: image + "/etc/enclave-init/boot.json", atomically: false, encoding: .utf8)
        FileManager.default.createFile(atPath: image + "/app", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        var kernel = Data((0..<20_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        kernel.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8)) // a bzImage's boot header, all build checks
        FileManager.default.createFile(atPath: scratch.path + "/bzImage", contents: kernel)
        let built = try ProcessRunner.run(ProcessRunner.binary, ["build", "--image", image, "--kernel", scratch.path + "/bzImage",
                                                                 "--output", scratch.path + "/app.eif"])
        try #require(built.status == 0, "\(built.stderr)")
        let pcr0 = try #require(built.stdout.split(separator: "\"").drop { $0 != "PCR0" }.dropFirst(2).first)
        let result = try verify(["--document", "\(Self.fixtures)/aws-2022-10-signed.cbor", "--at", "document",
                                 "--image", image, "--kernel", scratch.path + "/bzImage"])
        #expect(result.status == 68, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("FAIL PCR0: is f4d48b81"), "\(result.stdout)")
        #expect(result.stdout.contains("the rebuild of \(image) says \(pcr0)"), "\(result.stdout)")
        let lonely = try verify(["--document", "x", "--kernel", scratch.path + "/bzImage"])
        #expect(lonely.status == 64)
        #expect(lonely.stderr.contains("--kernel is one of build's options: it goes with --image"))
    }

    @Test func usageErrorsNameTheOption() throws {
        let cases: [([String], String)] = [
            ([], "a document is needed: --document FILE, --endpoint URL for a live enclave's, or https://HOST:PORT of an attested ingress"),
            (["http://10.0.0.5:7777"], "http://10.0.0.5:7777: not https://HOST[:PORT] (an attested ingress)"),
            (["https://a.example", "--endpoint", "http://b:1"], "<url> and --endpoint both given"),
            (["https://a.example", "b"], "unexpected argument 'b'"),
            (["--document", "x", "--pcr", "32=00"], "--pcr 32=00: not n=hex with n from 0 to 31"),
            (["--document", "x", "--pcr", "0=abcd"], "the value is not 48 bytes of hex"),
            (["--document", "x", "--at", "yesterday"], "--at yesterday: not RFC 3339"),
            (["--document", "x", "--nonce", "xyz"], "--nonce xyz: not hex digits"),
        ]
        for (arguments, message) in cases {
            let result = try verify(arguments)
            #expect(result.status == 64, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
        let help = try verify(["--help"])
        #expect(help.stdout.contains("Examples:") && help.stdout.contains("641A0321A3E244EFE456463195D606317ED7CDCC3C1756E09893F3C68F79BB5B"))
        #expect(help.stdout.contains("65 not an authentic document"))
        #expect(help.stdout.contains("enclave-init verify [<url>]") && help.stdout.contains("https://HOST[:PORT] of an attested ingress"))
    }
}
