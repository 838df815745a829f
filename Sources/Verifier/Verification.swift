import DocumentReading
import EnclaveImage
import Glibc

/// What a relying party expects of a document, beyond its being AWS's.
public struct Expectations: Sendable {
    /// PCRs the document must carry, each with where the value came from (`--pcr`, a file).
    public var pcrs: [ExpectedPCR] = []
    public var nonce: [UInt8]?
    /// Seconds; nil: the age is reported, not limited.
    public var maximumAge: Int64?
    /// A debug-mode enclave (PCR0-2 all zero) passes only with this.
    public var allowDebug = false
    /// A document whose signature or chain does not hold (QEMU's nitro-enclave machine makes
    /// them) is still compared, and reported as not authenticated, only with this.
    public var allowUnsigned = false
    /// `verify https://`: the SHA-256 of the public key (SubjectPublicKeyInfo) of the
    /// certificate the server presented; the document's user_data must be its TLS binding.
    public var tlsPublicKeySHA256: [UInt8]?

    public init() {}
}

public struct ExpectedPCR: Sendable, Equatable {
    public var index: Int
    public var value: [UInt8]
    public var source: String
    public init(index: Int, value: [UInt8], source: String) {
        self.index = index
        self.value = value
        self.source = source
    }
}

/// Which root the chain must end in.
public enum TrustedRoot: Sendable {
    /// AWS's Nitro root, pinned by its SHA-256 fingerprint.
    case aws
    /// Another root's certificate (tests only; the output says so), from `path`.
    case replaced(der: [UInt8], path: String)

    var isReplaced: Bool {
        if case .replaced = self { return true }
        return false
    }

    /// The SHA-256 fingerprint of AWS's Nitro Enclaves root certificate (CN=aws.nitro-enclaves,
    /// P-384, valid to 2049), as AWS publishes it.
    public static let awsFingerprint: [UInt8] = hexBytes("641A0321A3E244EFE456463195D606317ED7CDCC3C1756E09893F3C68F79BB5B")!
}

/// One check's outcome, a line of the report.
public struct Check: Sendable, Equatable {
    public enum Outcome: String, Sendable { case ok, failed, waived, skipped }
    /// Authenticity: is this AWS's document at all? Expectation: is it the expected enclave?
    public enum Kind: String, Sendable { case authenticity, expectation }
    public var name: String
    public var outcome: Outcome
    public var kind: Kind
    public var detail: String
}

public struct VerificationReport: Sendable {
    public enum Verdict: Sendable, Equatable { case verified, notAuthentic, notExpected }
    public var checks: [Check]
    public var document: AttestationDocument?
    /// The time the chain was also checked at, and the age measured from (seconds).
    public var verifierTime: Int64
    /// --root replaced AWS's pinned root: "authentic" then means "made under that root".
    public var rootReplaced = false

    public var verdict: Verdict {
        if checks.contains(where: { $0.kind == .authenticity && $0.outcome == .failed }) { return .notAuthentic }
        if checks.contains(where: { $0.kind == .expectation && $0.outcome == .failed }) { return .notExpected }
        return .verified
    }
    /// True when a check that proves authenticity was waived (--allow-unsigned).
    public var unauthenticated: Bool { checks.contains { $0.outcome == .waived } }
}

/// Checks a document: structure, ES384 signature by the leaf, the chain to the pinned root
/// (at the document's time and at the verifier's), the digest, then what the caller expects.
public enum Verification {
    public static func verify(_ bytes: [UInt8], root: TrustedRoot = .aws, at verifierTime: Int64,
                              expecting expectations: Expectations) -> VerificationReport {
        var checks: [Check] = []
        func record(_ name: String, _ kind: Check.Kind, _ failure: String?, ok: String, waivable: Bool = false) {
            if let failure {
                let waived = waivable && expectations.allowUnsigned
                checks.append(Check(name: name, outcome: waived ? .waived : .failed, kind: kind,
                                    detail: waived ? failure + " (waived: --allow-unsigned)" : failure))
            } else {
                checks.append(Check(name: name, outcome: .ok, kind: kind, detail: ok))
            }
        }
        let document: AttestationDocument
        do {
            document = try AttestationDocument.parse(bytes)
        } catch {
            record("structure", .authenticity, "\(error)", ok: "")
            return VerificationReport(checks: checks, document: nil, verifierTime: verifierTime, rootReplaced: root.isReplaced)
        }
        let payload = document.payload
        record("structure", .authenticity, nil,
               ok: "COSE_Sign1\(document.taggedAs18 ? " (tag 18)" : ""), \(bytes.count) bytes, module \(payload.moduleID)")
        record("algorithm", .authenticity,
               document.algorithm == AttestationDocument.es384 ? nil : "\(document.algorithm) in the protected header; only ES384 (-35) is accepted",
               ok: "ES384 (-35)", waivable: true)
        record("digest", .authenticity, payload.digest == "SHA384" ? nil : "\"\(payload.digest)\", not SHA384", ok: "SHA384")

        // The signature, by the leaf's key.
        let unsigned = payload.certificate.isEmpty || payload.cabundle.isEmpty
        let leaf = Certificate(der: payload.certificate)
        if unsigned {
            let missing = payload.certificate.isEmpty ? "no certificate" : "an empty cabundle"
            let reason = "\(missing): an unsigned document (QEMU's nitro-enclave machine makes them), not AWS's NSM's"
            for name in ["signature", "root", "chain"] { record(name, .authenticity, reason, ok: "", waivable: true) }
        } else if let leaf {
            let failure: String? = document.signature.count != 96 ? "\(document.signature.count) bytes; ES384's is 96 (r ‖ s)"
                : leaf.curveName != "secp384r1" ? "the leaf's key is \(leaf.curveName ?? "not an EC key"), not P-384"
                : leaf.verifiesES384(document.signature, over: document.signedBytes) ? nil
                : "ES384 over the payload does not verify with the leaf's key (\(leaf.subject))"
            record("signature", .authenticity, failure, ok: "ES384 over the payload, by \(leaf.subject)", waivable: true)
        } else {
            record("signature", .authenticity, "certificate: not one DER X.509 certificate", ok: "", waivable: true)
        }

        // The root, pinned.
        let bundle = payload.cabundle.map { Certificate(der: $0) }
        guard !unsigned else { return expectationChecks(document, expectations, checks: checks, verifierTime: verifierTime, root: root) }
        let pinned: [UInt8], pinnedName: String
        switch root {
        case .aws: (pinned, pinnedName) = (TrustedRoot.awsFingerprint, "AWS's Nitro root, pinned in this binary")
        case .replaced(let der, let path):
            pinned = Certificate(der: der)?.sha256Fingerprint ?? []
            pinnedName = "the root from \(path) (--root: for tests only, not AWS's)"
        }
        let rootCertificate = bundle[0]
        if let rootCertificate {
            let fingerprint = rootCertificate.sha256Fingerprint
            record("root", .authenticity,
                   fingerprint == pinned ? nil : "cabundle[0] has SHA-256 \(hex(fingerprint).prefix(16))…, not \(pinnedName) (\(hex(pinned).prefix(16))…)",
                   ok: "\(pinnedName), SHA-256 \(hex(pinned).uppercased())", waivable: true)
        } else {
            record("root", .authenticity, "cabundle[0]: not one DER X.509 certificate", ok: "", waivable: true)
        }

        // The chain, in the bundle's order, then OpenSSL's verification at both times.
        let timestamp = Int64(payload.timestamp / 1000)
        if let leaf, let rootCertificate, !bundle.contains(where: { $0 == nil }) {
            let certificates = bundle.compactMap { $0 }
            var orderFailure: String?
            for position in 1..<max(certificates.count, 1) where !certificates[position - 1].issued(certificates[position]) {
                orderFailure = "cabundle[\(position)] (\(certificates[position].subject)) is not issued by cabundle[\(position - 1)]"
                break
            }
            if orderFailure == nil, !certificates[certificates.count - 1].issued(leaf) {
                orderFailure = "the leaf is not issued by the bundle's last certificate (\(certificates[certificates.count - 1].subject))"
            }
            let intermediates = Array(certificates.dropFirst())
            let atDocument = orderFailure ?? chainError(leaf: leaf, intermediates: intermediates, root: rootCertificate, at: timestamp)
            record("chain", .authenticity, atDocument,
                   ok: "the leaf <- \(intermediates.count) intermediates <- the root, each valid at the document's time (\(rfc3339(timestamp)))",
                   waivable: true)
            if atDocument == nil {
                let atVerifier = chainError(leaf: leaf, intermediates: intermediates, root: rootCertificate, at: verifierTime)
                record("validity now", .authenticity, atVerifier.map { "at \(rfc3339(verifierTime)): \($0)" },
                       ok: "every certificate is valid at \(rfc3339(verifierTime)) too", waivable: true)
            }
        } else {
            let position = bundle.firstIndex { $0 == nil }.map { "cabundle[\($0)]" } ?? "certificate"
            record("chain", .authenticity, "\(position): not one DER X.509 certificate", ok: "", waivable: true)
        }

        return expectationChecks(document, expectations, checks: checks, verifierTime: verifierTime, root: root)
    }

    /// The age, nonce, debug mode and PCRs against what the relying party expects.
    private static func expectationChecks(_ document: AttestationDocument, _ expectations: Expectations, checks: [Check],
                                          verifierTime: Int64, root: TrustedRoot) -> VerificationReport {
        var checks = checks
        func record(_ name: String, _ kind: Check.Kind, _ failure: String?, ok: String) {
            checks.append(Check(name: name, outcome: failure == nil ? .ok : .failed, kind: kind, detail: failure ?? ok))
        }
        let payload = document.payload
        let timestamp = Int64(payload.timestamp / 1000)
        let age = verifierTime - timestamp
        if age < -300 {
            record("age", .expectation, "the document is \(-age) s in the future of \(rfc3339(verifierTime))", ok: "")
        } else if let limit = expectations.maximumAge {
            record("age", .expectation, age > limit ? "\(age) s old, more than --max-age \(limit)" : nil, ok: "\(max(age, 0)) s old (--max-age \(limit))")
        } else {
            checks.append(Check(name: "age", outcome: .skipped, kind: .expectation, detail: "\(max(age, 0)) s old (no --max-age given)"))
        }
        if let nonce = expectations.nonce {
            let failure: String? = payload.nonce == nonce ? nil
                : payload.nonce.map { "the document's nonce is \(hex($0)), not \(hex(nonce))" } ?? "the document has no nonce; expected \(hex(nonce))"
            record("nonce", .expectation, failure, ok: hex(nonce))
        }
        if let presented = expectations.tlsPublicKeySHA256 {
            let named = payload.userData.flatMap(TLSBinding.publicKeySHA256(inUserData:))
            let failure: String? = switch named {
            case presented?: nil
            case let other?: "the document binds the TLS key \(hex(other)), but the server presented a certificate whose key is \(hex(presented)): "
                + "another TLS server is in front of the enclave (a man in the middle)"
            case nil: "the document's user_data is not a TLS binding (\(payload.userData.map { "\($0.count) bytes" } ?? "none")): "
                + "the server is not an attested ingress of enclave-init"
            }
            record("tls binding", .expectation, failure, ok: "user_data names the public key of the certificate this TLS connection presented (sha256 \(hex(presented)))")
        }
        let zero = [UInt8](repeating: 0, count: 48)
        if (0...2).allSatisfy({ payload.pcr($0) == zero }) {
            if expectations.allowDebug {
                checks.append(Check(name: "debug mode", outcome: .waived, kind: .expectation,
                                    detail: "PCR0-2 are all zero: a debug-mode enclave, whose memory its parent can read (allowed: --allow-debug)"))
            } else {
                record("debug mode", .expectation, "PCR0-2 are all zero: a debug-mode enclave, whose memory its parent can read (--allow-debug accepts it)", ok: "")
            }
        }
        for expected in expectations.pcrs {
            let actual = payload.pcr(expected.index)
            let failure: String? = actual == expected.value ? nil
                : actual.map { "is \(hex($0)), \(expected.source) says \(hex(expected.value))" } ?? "the document has no PCR\(expected.index)"
            record("PCR\(expected.index)", .expectation, failure, ok: "\(hex(expected.value).prefix(16))… as \(expected.source) says")
        }
        return VerificationReport(checks: checks, document: document, verifierTime: verifierTime, rootReplaced: root.isReplaced)
    }
}

func hex(_ bytes: [UInt8]) -> String { Measurements.hex(bytes) }

/// Hex digits (either case) to bytes; nil for an odd length or another character.
public func hexBytes(_ text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    out.reserveCapacity(digits.count / 2)
    var index = 0
    while index < digits.count {
        guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
        out.append(high << 4 | low)
        index += 2
    }
    return out
}

private func hexValue(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
    default: return nil
    }
}

/// Seconds since 1970 as RFC 3339 in UTC.
public func rfc3339(_ seconds: Int64) -> String { UTCTime.format(seconds) }

/// RFC 3339 in UTC ("2022-10-04T12:00:00Z", a fraction of a second dropped) or seconds since
/// 1970; nil otherwise.
public func parseTime(_ text: String) -> Int64? {
    if let seconds = Int64(text) { return seconds }
    return UTCTime.parse(text)
}
