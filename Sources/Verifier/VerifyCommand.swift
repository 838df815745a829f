import Commands
import ConsoleLog
import DocumentReading
import EnclaveImage
import ExtrasBase64
import Glibc

/// `enclave-init verify`: what a relying party runs, on any machine, to check an attestation
/// document: that AWS's NSM made it (signature, chain to the pinned root) and that it is the
/// enclave expected (PCRs from a file, an EIF or the command line; nonce; age).
public struct VerifyCommand: Command {
    public static let spec = CommandSpec(
        name: "verify",
        abstract: "Check an attestation document: AWS's signature chain, then the PCRs, nonce and age you expect.",
        discussion: """
        Checks, one line each: the COSE_Sign1 structure (strict CBOR) and ES384; the signature over the payload \
        with the leaf certificate's P-384 key; the bundle's root against AWS's Nitro root, pinned in this binary by \
        its SHA-256 fingerprint (\(hex(TrustedRoot.awsFingerprint).uppercased())); the chain leaf <- bundle <- root \
        with every certificate valid at the document's time and at the verifier's (--at); the digest SHA384; \
        then the age (--max-age), the nonce (--nonce), debug mode (PCR0-2 all zero), and each expected PCR.
        With https://HOST:PORT (an ingress with "tls"): one TLS connection offering only ALPN enclave-attestation/1, \
        a fresh document asked for on it with a nonce of verify's own, all of the above checked, and then that the \
        document's user_data binds the public key of the certificate this very connection presented ("tls binding"); \
        it prints that certificate's fingerprints to pin.
        Examples:
          enclave-init verify https://app.example.com:443 --eif my-enclave.eif --max-age 60
          enclave-init verify --endpoint http://10.0.0.5:7777 --eif my-enclave.eif --max-age 60
          enclave-init verify --document doc.cbor --eif my-enclave.eif --max-age 300
          enclave-init verify --document doc.b64 --measurements pcrs.json --pcr 16=<hex> --nonce <hex>
          enclave-init verify --document archived.cbor --at document --pcr 8=<hex>
          enclave-init verify --document doc.cbor --image ./rootfs --kernel bzImage --nsm-ko nsm.ko
        Exit codes: 0 verified; 65 not an authentic document (structure, signature, chain, root); 68 authentic \
        but not the enclave expected (PCRs, nonce, age, debug mode); 66 no document could be read or fetched \
        (or an expectation's file); 64 a usage error.
        """,
        options: [
            OptionSpec("--document", value: "file", help: "The document: raw CBOR, or hex or base64 of it (as an app printed or stored it)."),
            OptionSpec("--endpoint", value: "url", help: "Instead: ask a live enclave's attestation endpoint (http://HOST:PORT, through an ingress mapping) for a fresh document carrying a random nonce of verify's own, and check it came back; https://HOST:PORT is the same as the <url> argument."),
            OptionSpec("--eif", value: "file", help: "Expect the PCR0-2 this enclave image measures to."),
            OptionSpec("--measurements", value: "file", help: "Expect the PCRs of a Measurements JSON (nitro-cli build-enclave's or build --measurements')."),
            OptionSpec("--pcr", value: "n=hex", repeatable: true, help: "Expect PCR n (0-31) to be this value; one per --pcr."),
            OptionSpec("--nonce", value: "hex", help: "Expect the document to carry this nonce."),
            OptionSpec("--max-age", value: "seconds", help: "Refuse a document older than this at the verifier's time."),
            OptionSpec("--at", value: "time", help: "The verifier's time: RFC 3339 (2022-10-04T12:00:00Z), seconds since 1970, or `document` for the document's own (an archived one). Default: now."),
            OptionSpec("--allow-debug", help: "Accept a debug-mode enclave (PCR0-2 all zero)."),
            OptionSpec("--allow-unsigned", help: "Compare a document whose signature or chain does not hold (QEMU's nitro-enclave machine); it is still reported as not authenticated."),
            OptionSpec("--root", value: "file", help: "Trust this root certificate (PEM or DER) instead of AWS's: for tests only, and said so in the output."),
            OptionSpec("--json", help: "Print the checks and the document's fields as JSON."),
        ] + BuildCommand.imageOptions.map { option in
            // build's own options, for --image: verify rebuilds the image reproducibly and expects its PCR0-2.
            guard option.name == "--image" else { return option }
            var image = option
            image.help = "Rebuild this image (with build's options below: --kernel or --blobs, …) and expect the PCR0-2 of the rebuild: \"this enclave runs the image in this directory\"."
            return image
        },
        arguments: [ArgumentSpec("url", optional: true, help: "https://HOST[:PORT] of an attested ingress (\"tls\"): get the document over its TLS and check that it names the certificate's key.")]
    )

    static let notAuthentic: Int32 = 65
    static let unreadable: Int32 = 66
    static let notExpected: Int32 = 68

    let documentPath: String?
    let endpoint: EndpointFetch.Target?
    /// https://: the endpoint is an attested ingress, reached over its TLS.
    let overTLS: Bool
    let eifPath: String?
    let measurementsPath: String?
    let pcrArguments: [String]
    let nonce: [UInt8]?
    let maximumAge: Int64?
    let at: String?
    let allowDebug: Bool
    let allowUnsigned: Bool
    let rootPath: String?
    let json: Bool
    /// --image and build's options: the image to rebuild.
    let rebuild: ImageBuilder?

    public init(_ arguments: ParsedArguments) throws(UsageError) {
        documentPath = arguments.string("--document")
        let positional = arguments.positionals.first
        if positional != nil, arguments.string("--endpoint") != nil { throw UsageError("<url> and --endpoint both given: one enclave at a time") }
        if let url = positional ?? arguments.string("--endpoint") {
            if let target = BindingFetch.parse(url) {
                endpoint = target
                overTLS = true
            } else if positional == nil, let target = EndpointFetch.parse(url) {
                endpoint = target
                overTLS = false
            } else {
                throw UsageError("\(positional == nil ? "--endpoint " : "")\(url): not \(positional == nil ? "http://HOST:PORT[/PATH] (the attestation endpoint, through an ingress mapping) or " : "")"
                                 + "https://HOST[:PORT] (an attested ingress)")
            }
        } else {
            endpoint = nil
            overTLS = false
        }
        switch (documentPath, endpoint) {
        case (nil, nil): throw UsageError("a document is needed: --document FILE, --endpoint URL for a live enclave's, or https://HOST:PORT of an attested ingress")
        case (.some, .some): throw UsageError("--document and --endpoint both given: one document at a time")
        default: break
        }
        eifPath = arguments.string("--eif")
        measurementsPath = arguments.string("--measurements")
        pcrArguments = arguments.strings("--pcr")
        if let text = arguments.string("--nonce") {
            guard let bytes = hexBytes(text), !bytes.isEmpty else { throw UsageError("--nonce \(text): not hex digits (--nonce <hex>)") }
            nonce = bytes
        } else {
            nonce = nil
        }
        if let text = arguments.string("--max-age") {
            guard let seconds = Int64(text), seconds >= 0 else { throw UsageError("--max-age \(text): not a number of seconds") }
            maximumAge = seconds
        } else {
            maximumAge = nil
        }
        if endpoint != nil, nonce != nil { throw UsageError("--nonce with --endpoint: verify makes the nonce itself for a live enclave") }
        at = arguments.string("--at")
        if let at, at != "document", parseTime(at) == nil {
            throw UsageError("--at \(at): not RFC 3339 in UTC (2022-10-04T12:00:00Z), seconds since 1970, or `document`")
        }
        allowDebug = arguments.flag("--allow-debug")
        allowUnsigned = arguments.flag("--allow-unsigned")
        rootPath = arguments.string("--root")
        json = arguments.flag("--json")
        if arguments.string("--image") != nil {
            var builder = try BuildCommand.imageBuilder(arguments)
            builder.imageName = "verify"
            rebuild = builder
        } else {
            for option in BuildCommand.imageOptions.dropFirst() {
                let given = option.isFlag ? arguments.flag(option.name) : option.repeatable ? !arguments.strings(option.name).isEmpty : arguments.string(option.name) != nil
                if given { throw UsageError("\(option.name) is one of build's options: it goes with --image (the image to rebuild)") }
            }
            rebuild = nil
        }
        for pcr in pcrArguments { _ = try Self.expectedPCR(pcr) }
    }

    static func expectedPCR(_ text: String) throws(UsageError) -> ExpectedPCR {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let index = Int(parts[0]), (0...31).contains(index) else {
            throw UsageError("--pcr \(text): not n=hex with n from 0 to 31 (--pcr 0=<96 hex digits>)")
        }
        guard let value = hexBytes(parts[1]), [32, 48, 64].contains(value.count) else {
            throw UsageError("--pcr \(text): the value is not 48 bytes of hex (96 digits; 64 or 128 for SHA-256/512)")
        }
        return ExpectedPCR(index: index, value: value, source: "--pcr \(index)")
    }

    public func run() throws {
        var expectations = Expectations()
        expectations.nonce = nonce
        let bytes: [UInt8]
        var presented: BindingFetch.Fetched?
        if let endpoint {
            let fresh: [UInt8]
            do {
                fresh = try EndpointFetch.freshNonce()
                if overTLS {
                    let fetched = try BindingFetch.fetch(endpoint, nonce: fresh)
                    presented = fetched
                    bytes = fetched.document
                    expectations.tlsPublicKeySHA256 = fetched.publicKeySHA256
                } else {
                    bytes = try EndpointFetch.document(from: endpoint, nonce: fresh)
                }
            } catch {
                Console.error("verify: \(overTLS ? "https://\(endpoint.host):\(endpoint.port)" : "--endpoint"): \(error)")
                throw CommandExit(Self.unreadable)
            }
            expectations.nonce = fresh
        } else {
            bytes = try readDocument()
        }
        expectations.maximumAge = maximumAge
        expectations.allowDebug = allowDebug
        expectations.allowUnsigned = allowUnsigned
        expectations.pcrs = try expectedPCRs()
        var root = TrustedRoot.aws
        if let rootPath {
            let file = try readFile(rootPath, what: "--root", limit: 64 * 1024)
            guard let certificate = Certificate(pemOrDER: file) else {
                Console.error("verify: --root \(rootPath): not a PEM or DER certificate")
                throw CommandExit(Self.unreadable)
            }
            root = .replaced(der: certificate.der, path: rootPath)
        }
        let now = Int64(time(nil))
        var verifierTime = now
        if let at {
            if at == "document" {
                // The document's own time, read without trusting anything yet (verify checks it).
                if let document = try? AttestationDocument.parse(bytes) { verifierTime = Int64(document.payload.timestamp / 1000) }
            } else if let seconds = parseTime(at) {
                verifierTime = seconds
            }
        }
        let report = Verification.verify(bytes, root: root, at: verifierTime, expecting: expectations)
        if json {
            print(VerificationOutput.json(report, tls: presented).rendered())
        } else {
            for line in VerificationOutput.lines(report, tls: presented) { print(line) }
        }
        switch report.verdict {
        case .verified: return
        case .notAuthentic: throw CommandExit(Self.notAuthentic)
        case .notExpected: throw CommandExit(Self.notExpected)
        }
    }

    /// Raw CBOR (a COSE_Sign1 starts with 0x84, or 0xD2 with its tag), else hex of it (what
    /// `od` or an app's log prints: "8444a1…"), else base64 of it.
    private func readDocument() throws -> [UInt8] {
        let documentPath = documentPath ?? ""
        let bytes = try readFile(documentPath, what: "--document", limit: AttestationDocument.maximumSize * 4)
        if let first = bytes.first, first == 0x84 || first == 0xD2 { return bytes }
        let text = String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace }
        if text.hasPrefix("84") || text.lowercased().hasPrefix("d284"), let decoded = hexBytes(text) { return decoded }
        guard let decoded = try? Base64.decode(string: text), !decoded.isEmpty else {
            Console.error("verify: --document \(documentPath): neither a COSE_Sign1 in CBOR nor hex or base64 of one")
            throw CommandExit(Self.notAuthentic)
        }
        return decoded
    }

    private func expectedPCRs() throws -> [ExpectedPCR] {
        var expected: [ExpectedPCR] = []
        if let eifPath {
            let description: EIFDescription
            do {
                description = try EIFDescription.read(path: eifPath)
            } catch {
                Console.error("verify: --eif \(eifPath): \(error)")
                throw CommandExit(Self.unreadable)
            }
            let measurements = description.measurements
            for (index, value) in [measurements.pcr0, measurements.pcr1, measurements.pcr2].enumerated() {
                expected.append(ExpectedPCR(index: index, value: value, source: "--eif"))
            }
            if let config = measurements.config {
                expected.append(ExpectedPCR(index: config.index, value: config.value, source: "--eif (its boot JSON)"))
            }
        }
        if let measurementsPath {
            expected += try measurementsFile(measurementsPath)
        }
        if let rebuild { expected += try rebuiltPCRs(rebuild) }
        for text in pcrArguments { expected.append(try Self.expectedPCR(text)) }
        return expected
    }

    /// The image built again, into a temporary file that is removed: its PCR0-2.
    private func rebuiltPCRs(_ builder: ImageBuilder) throws -> [ExpectedPCR] {
        var template = Array("/tmp/enclave-init-verify-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else {
            Console.error("verify: --image: cannot make a temporary file in /tmp: \(String(cString: strerror(errno)))")
            throw CommandExit(Self.unreadable)
        }
        close(fd)
        let path = String(cString: template)
        defer { unlink(path) }
        let measurements: Measurements
        do {
            measurements = try builder.write(to: path).measurements
        } catch {
            Console.error("verify: --image \(builder.rootfs): \(error)")
            throw CommandExit(Self.unreadable)
        }
        Console.error("verify: rebuilt \(builder.rootfs): PCR0 \(Measurements.hex(measurements.pcr0).prefix(16))…")
        // With enclave-init's layout the image's boot JSON too: its PCR (16) names the config.
        let config = measurements.config.map { [(offset: $0.index, element: $0.value)] } ?? []
        return (Array([measurements.pcr0, measurements.pcr1, measurements.pcr2].enumerated().map { (offset: $0.offset, element: $0.element) }) + config).map {
            ExpectedPCR(index: $0.offset, value: $0.element, source: "the rebuild of \(builder.rootfs)")
        }
    }

    /// `{"Measurements": {"PCR0": "<hex>", …}}` (nitro-cli's) or the inner object alone.
    private func measurementsFile(_ path: String) throws -> [ExpectedPCR] {
        let bytes = try readFile(path, what: "--measurements", limit: 1024 * 1024)
        func refuse(_ why: String) -> CommandExit {
            Console.error("verify: --measurements \(path): \(why)")
            return CommandExit(Self.unreadable)
        }
        let root: JSONNode
        do { root = try JSONParser.parse(bytes) } catch { throw refuse("\(error)") }
        var object = root
        if case .object(let members) = root.value, let inner = members.first(where: { $0.key == "Measurements" }) { object = inner.value }
        guard case .object(let members) = object.value else { throw refuse("not a JSON object with PCR0, PCR1, …") }
        var expected: [ExpectedPCR] = []
        for member in members where member.key.hasPrefix("PCR") {
            guard let index = Int(member.key.dropFirst(3)), (0...31).contains(index) else { throw refuse("\(member.key): not PCR0 to PCR31") }
            guard case .string(let text) = member.value.value, let value = hexBytes(text), [32, 48, 64].contains(value.count) else {
                throw refuse("\(member.key) (\(member.value.location)): not a hex digest")
            }
            expected.append(ExpectedPCR(index: index, value: value, source: "--measurements"))
        }
        guard !expected.isEmpty else { throw refuse("no PCR0, PCR1, … in it") }
        return expected
    }

    private func readFile(_ path: String, what: String, limit: Int) throws -> [UInt8] {
        do {
            return try FileContents.read(path, limit: limit)
        } catch {
            Console.error("verify: \(what) \(path): \(error)")
            throw CommandExit(Self.unreadable)
        }
    }
}
