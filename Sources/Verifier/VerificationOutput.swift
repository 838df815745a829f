import EnclaveImage
import ExtrasBase64
import DocumentReading

/// The report as `verify` prints it: one line per check, the document's fields, a verdict; or
/// the same as JSON.
enum VerificationOutput {
    static func lines(_ report: VerificationReport, tls: BindingFetch.Fetched? = nil) -> [String] {
        var lines = report.checks.map { check in
            let mark = switch check.outcome {
            case .ok: "ok  "
            case .failed: "FAIL"
            case .waived: "WAIV"
            case .skipped: "--  "
            }
            return "\(mark) \(check.name): \(check.detail)"
        }
        if let payload = report.document?.payload {
            lines.append("document: module \(payload.moduleID), \(rfc3339(Int64(payload.timestamp / 1000))) (\(payload.timestamp) ms)")
            for (index, value) in payload.pcrs where !value.allSatisfy({ $0 == 0 }) || index <= 2 {
                lines.append("  PCR\(index) \(hex(value))")
            }
            for (name, value) in [("nonce", payload.nonce), ("user_data", payload.userData), ("public_key", payload.publicKey)] {
                if let value { lines.append("  \(name) \(hex(value))") }
            }
        }
        if let tls {
            let pinned = report.verdict == .verified ? "pin" : "presented (not pinnable: the checks failed)"
            lines.append("tls: \(tls.protocolVersion), the certificate this connection presented:")
            lines.append("  certificate sha256 \(hex(SHA256.hash(tls.certificateDER)))")
            lines.append("  public key sha256 \(hex(tls.publicKeySHA256)) (\(pinned): curl --pinnedpubkey sha256//\(base64(tls.publicKeySHA256)))")
        }
        lines.append(verdictLine(report))
        return lines
    }

    static func verdictLine(_ report: VerificationReport) -> String {
        switch report.verdict {
        case .notAuthentic: return "verdict: NOT AUTHENTIC: not a document AWS's NSM made, as far as these checks can tell"
        case .notExpected: return "verdict: authentic, but NOT THE ENCLAVE EXPECTED"
        case .verified where report.unauthenticated:
            return "verdict: NOT AUTHENTICATED (--allow-unsigned): the expectations hold for what the document claims"
        case .verified where report.rootReplaced:
            return "verdict: verified UNDER THE --root GIVEN, not AWS's: made under that root, for the enclave expected"
        case .verified: return "verdict: verified: AWS's NSM made this document, for the enclave expected"
        }
    }

    static func json(_ report: VerificationReport, tls: BindingFetch.Fetched? = nil) -> JSONOutput {
        let verdict: String = switch report.verdict {
        case .verified: report.unauthenticated ? "unauthenticated" : report.rootReplaced ? "verified_under_replaced_root" : "verified"
        case .notAuthentic: "not_authentic"
        case .notExpected: "not_expected"
        }
        var members: [(String, JSONOutput)] = [
            ("verdict", .string(verdict)),
            ("verifier_time", .string(rfc3339(report.verifierTime))),
            ("checks", .array(report.checks.map { check in
                .object([("name", .string(check.name)), ("outcome", .string(check.outcome.rawValue)),
                         ("kind", .string(check.kind.rawValue)), ("detail", .string(check.detail))])
            })),
        ]
        if let payload = report.document?.payload {
            let optional: ([UInt8]?) -> JSONOutput = { $0.map { .string(hex($0)) } ?? .null }
            members.append(("document", .object([
                ("module_id", .string(payload.moduleID)),
                ("digest", .string(payload.digest)),
                ("timestamp", .integer(Int64(payload.timestamp))),
                ("time", .string(rfc3339(Int64(payload.timestamp / 1000)))),
                ("pcrs", .object(payload.pcrs.map { (String($0.index), .string(hex($0.value))) })),
                ("nonce", optional(payload.nonce)),
                ("user_data", optional(payload.userData)),
                ("public_key", optional(payload.publicKey)),
            ])))
        }
        if let tls {
            members.append(("tls", .object([
                ("protocol", .string(tls.protocolVersion)),
                ("certificate_sha256", .string(hex(SHA256.hash(tls.certificateDER)))),
                ("public_key_sha256", .string(hex(tls.publicKeySHA256))),
                ("curl_pinnedpubkey", .string("sha256//" + base64(tls.publicKeySHA256))),
            ])))
        }
        return .object(members)
    }

    private static func base64(_ bytes: [UInt8]) -> String { Base64.encodeToString(bytes: bytes) }
}
