import DocumentReading

/// One JSON scalar in a status event.
public enum EventValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case bool(Bool)
}

/// A boot-phase event on the status stream (README: "Logs and status without debug mode").
/// Both halves use this one type: the enclave encodes it with `name` and `fields`, the parent
/// decodes it with `init(name:fields:)`, so renaming a case or a field cannot silently break
/// what the parent reads (`--exit-with-enclave`, `--status-file`).
public enum StatusEvent: Sendable, Equatable {
    case configOK(boot: String)
    case networkUp
    case proxiesListening(listeners: Int)
    case mounted(mounted: Int, configured: Int)
    case appStarted(pid: Int32)
    case appReady(pid: Int32, probe: String, afterMilliseconds: Int64)
    case appNotReady(pid: Int32, probe: String, timeoutSeconds: Int64)
    case appExited(pid: Int32, ending: AppEnding, exitCode: Int32, restarting: Bool)
    case restarting(restart: Int, limit: Int, delayMilliseconds: Int64)
    /// SIGTERM or SIGINT arrived, or the parent sent `stop` (before the app started, or while it ran).
    case stopping(by: StopSource)
    /// `exitCode` only when the app could not be started (its 126/127/70).
    case bootFailed(step: String, error: String, exitCode: Int32?)
    case shutdown(exitCode: Int32, powerOff: Bool)
    /// An attested ingress serves this certificate from now on (at boot; when ACME issues or
    /// renews). `source` is "self-signed" or "acme"; the digests are hex SHA-256 of the public
    /// key (SubjectPublicKeyInfo) and of the certificate.
    case tlsCertificate(ingress: Int, source: String, notAfter: String, publicKeySHA256: String, certificateSHA256: String)
    /// Getting a certificate from the ACME CA failed; the next try is in `retryInSeconds`.
    case acmeFailed(ingress: Int, error: String, retryInSeconds: Int64)
    /// A boot self-check (step 3): what was found, what a Nitro enclave has, whether
    /// `hardening` required it.
    case selfCheck(check: String, ok: Bool, found: String, expected: String, required: Bool)

    /// How the app ended: its own exit code, or the signal that ended it.
    public enum AppEnding: Sendable, Equatable {
        case code(Int32)
        case signal(Int32, name: String)
    }

    /// Who asked for the shutdown: `"by": "signal"` with the signal's name, or `"by": "parent"`.
    public enum StopSource: Sendable, Equatable {
        case signal(String)
        /// `stop` over the control port.
        case parent
    }

    /// The event's name on the wire.
    public enum Name: String, Sendable, CaseIterable {
        case configOK = "config_ok"
        case networkUp = "network_up"
        case proxiesListening = "proxies_listening"
        case mounted
        case appStarted = "app_started"
        case appReady = "app_ready"
        case appNotReady = "app_not_ready"
        case appExited = "app_exited"
        case restarting
        case stopping
        case bootFailed = "boot_failed"
        case shutdown
        case tlsCertificate = "tls_certificate"
        case acmeFailed = "acme_failed"
        case selfCheck = "self_check"
    }

    public var name: Name {
        switch self {
        case .configOK: return .configOK
        case .networkUp: return .networkUp
        case .proxiesListening: return .proxiesListening
        case .mounted: return .mounted
        case .appStarted: return .appStarted
        case .appReady: return .appReady
        case .appNotReady: return .appNotReady
        case .appExited: return .appExited
        case .restarting: return .restarting
        case .stopping: return .stopping
        case .bootFailed: return .bootFailed
        case .shutdown: return .shutdown
        case .tlsCertificate: return .tlsCertificate
        case .acmeFailed: return .acmeFailed
        case .selfCheck: return .selfCheck
        }
    }

    /// The fields after `"event"`, in wire order.
    public var fields: [(key: String, value: EventValue)] {
        switch self {
        case .configOK(let boot): return [("boot", .string(boot))]
        case .networkUp: return []
        case .proxiesListening(let listeners): return [("listeners", .int(listeners))]
        case .mounted(let mounted, let configured): return [("mounted", .int(mounted)), ("configured", .int(configured))]
        case .appStarted(let pid): return [("pid", .int(pid))]
        case .appReady(let pid, let probe, let after):
            return [("pid", .int(pid)), ("probe", .string(probe)), ("after_ms", .integer(after))]
        case .appNotReady(let pid, let probe, let timeout):
            return [("pid", .int(pid)), ("probe", .string(probe)), ("timeout_seconds", .integer(timeout))]
        case .appExited(let pid, let ending, let exitCode, let restarting):
            var fields: [(key: String, value: EventValue)] = [("pid", .int(pid))]
            switch ending {
            case .code(let code): fields.append(("code", .int(code)))
            case .signal(let signal, let name): fields += [("signal", .int(signal)), ("signal_name", .string(name))]
            }
            return fields + [("exit_code", .int(exitCode)), ("restarting", .bool(restarting))]
        case .restarting(let restart, let limit, let delay):
            return [("restart", .int(restart)), ("limit", .int(limit)), ("delay_ms", .integer(delay))]
        case .stopping(.signal(let signal)): return [("by", .string("signal")), ("signal", .string(signal))]
        case .stopping(.parent): return [("by", .string("parent"))]
        case .bootFailed(let step, let error, let exitCode):
            return [("step", .string(step)), ("error", .string(error))] + (exitCode.map { [("exit_code", .int($0))] } ?? [])
        case .shutdown(let exitCode, let powerOff): return [("exit_code", .int(exitCode)), ("power_off", .bool(powerOff))]
        case .tlsCertificate(let ingress, let source, let notAfter, let key, let certificate):
            return [("ingress", .int(ingress)), ("source", .string(source)), ("not_after", .string(notAfter)),
                    ("public_key_sha256", .string(key)), ("certificate_sha256", .string(certificate))]
        case .acmeFailed(let ingress, let error, let retry):
            return [("ingress", .int(ingress)), ("error", .string(error)), ("retry_in_seconds", .integer(retry))]
        case .selfCheck(let check, let ok, let found, let expected, let required):
            return [("check", .string(check)), ("ok", .bool(ok)), ("found", .string(found)), ("expected", .string(expected)), ("required", .bool(required))]
        }
    }

    /// Decodes what `name` and `fields` encoded; nil for an unknown name or a missing or
    /// mistyped field (a newer or broken enclave: the parent logs the raw line regardless).
    public init?(name: String, fields: [String: EventValue]) {
        guard let name = Name(rawValue: name) else { return nil }
        let read = FieldReader(fields)
        switch name {
        case .configOK:
            guard let boot = read.string("boot") else { return nil }
            self = .configOK(boot: boot)
        case .networkUp:
            self = .networkUp
        case .proxiesListening:
            guard let listeners = read.int("listeners") else { return nil }
            self = .proxiesListening(listeners: listeners)
        case .mounted:
            guard let mounted = read.int("mounted"), let configured = read.int("configured") else { return nil }
            self = .mounted(mounted: mounted, configured: configured)
        case .appStarted:
            guard let pid = read.int32("pid") else { return nil }
            self = .appStarted(pid: pid)
        case .appReady:
            guard let pid = read.int32("pid"), let probe = read.string("probe"), let after = read.integer("after_ms") else { return nil }
            self = .appReady(pid: pid, probe: probe, afterMilliseconds: after)
        case .appNotReady:
            guard let pid = read.int32("pid"), let probe = read.string("probe"), let timeout = read.integer("timeout_seconds") else { return nil }
            self = .appNotReady(pid: pid, probe: probe, timeoutSeconds: timeout)
        case .appExited:
            guard let pid = read.int32("pid"), let exitCode = read.int32("exit_code"), let restarting = read.bool("restarting") else { return nil }
            let ending: AppEnding
            if let code = read.int32("code") {
                ending = .code(code)
            } else if let signal = read.int32("signal"), let signalName = read.string("signal_name") {
                ending = .signal(signal, name: signalName)
            } else {
                return nil
            }
            self = .appExited(pid: pid, ending: ending, exitCode: exitCode, restarting: restarting)
        case .restarting:
            guard let restart = read.int("restart"), let limit = read.int("limit"), let delay = read.integer("delay_ms") else { return nil }
            self = .restarting(restart: restart, limit: limit, delayMilliseconds: delay)
        case .stopping:
            switch (read.string("by"), read.string("signal")) {
            case ("parent"?, _): self = .stopping(by: .parent)
            case ("signal"?, let signal?), (nil, let signal?): self = .stopping(by: .signal(signal)) // no "by": before the control port
            default: return nil
            }
        case .bootFailed:
            guard let step = read.string("step"), let error = read.string("error") else { return nil }
            self = .bootFailed(step: step, error: error, exitCode: read.int32("exit_code"))
        case .shutdown:
            guard let exitCode = read.int32("exit_code"), let powerOff = read.bool("power_off") else { return nil }
            self = .shutdown(exitCode: exitCode, powerOff: powerOff)
        case .tlsCertificate:
            guard let ingress = read.int("ingress"), let source = read.string("source"), let notAfter = read.string("not_after"),
                  let key = read.string("public_key_sha256"), let certificate = read.string("certificate_sha256") else { return nil }
            self = .tlsCertificate(ingress: ingress, source: source, notAfter: notAfter, publicKeySHA256: key, certificateSHA256: certificate)
        case .acmeFailed:
            guard let ingress = read.int("ingress"), let error = read.string("error"), let retry = read.integer("retry_in_seconds") else { return nil }
            self = .acmeFailed(ingress: ingress, error: error, retryInSeconds: retry)
        case .selfCheck:
            guard let check = read.string("check"), let ok = read.bool("ok"), let found = read.string("found"),
                  let expected = read.string("expected"), let required = read.bool("required") else { return nil }
            self = .selfCheck(check: check, ok: ok, found: found, expected: expected, required: required)
        }
    }
}

extension EventValue {
    static func int<Integer: BinaryInteger>(_ value: Integer) -> EventValue { .integer(Int64(value)) }
}

extension StatusEvent {
    /// Decodes the event of a record as the parent received it (JSON values); nil when the
    /// record is not a known event with the fields it must have.
    init?(record fields: [String: JSONValue]) {
        guard case .string(let name)? = fields["event"] else { return nil }
        var scalars: [String: EventValue] = [:]
        for (key, value) in fields {
            switch value {
            case .string(let text): scalars[key] = .string(text)
            case .bool(let flag): scalars[key] = .bool(flag)
            case .number(let number): if let integer = number.integer { scalars[key] = .integer(integer) }
            default: break
            }
        }
        self.init(name: name, fields: scalars)
    }
}

/// Typed reads of a decoded event's fields.
private struct FieldReader {
    let fields: [String: EventValue]
    init(_ fields: [String: EventValue]) { self.fields = fields }

    func string(_ key: String) -> String? {
        if case .string(let text)? = fields[key] { return text }
        return nil
    }
    func integer(_ key: String) -> Int64? {
        if case .integer(let number)? = fields[key] { return number }
        return nil
    }
    func int(_ key: String) -> Int? { integer(key).flatMap { Int(exactly: $0) } }
    func int32(_ key: String) -> Int32? { integer(key).flatMap { Int32(exactly: $0) } }
    func bool(_ key: String) -> Bool? {
        if case .bool(let flag)? = fields[key] { return flag }
        return nil
    }
}
