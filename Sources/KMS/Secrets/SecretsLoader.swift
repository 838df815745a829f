import BootConfig
import DocumentReading
import ExtrasBase64
import Glibc
import Logging
import Processes

/// The boot's secrets step: each `secrets[]` ciphertext decrypted by KMS for this enclave only
/// (Decrypt with Recipient, the answer unwrapped with the enclave's key), then handed to the
/// app: into its environment, or into a file on a tmpfs owned by its user. Plaintexts are
/// wiped from enclave-init's buffers once placed (an environment value necessarily lives on in
/// the app's launch environment, which a restart reuses).
public struct SecretsLoader: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        /// "secrets[1] (env DB_PASSWORD)"
        public var secret: String
        public var reason: String
        /// Set when a stop ended the step (it ends the boot whether the secret is required or not).
        public var interruption: BootInterruption.Interrupted?
        public var description: String { "\(secret): \(reason)" }
    }

    public struct Outcome: Sendable {
        /// Variables for the app's environment.
        public var environment: [(key: String, value: String)] = []
        public var files: [String] = []
        /// Optional secrets that could not be had.
        public var skipped: Int = 0

        public init() {}
        public var summary: String {
            var parts = ["\(environment.count) in the environment", "\(files.count) in files"]
            if skipped > 0 { parts.append("\(skipped) optional skipped") }
            return parts.joined(separator: ", ")
        }
    }

    public static let maximumCiphertextFileBytes = 64 * 1024

    let secrets: [Secret]
    let client: KMSClient
    let key: AttestedKey
    /// The app's user and group: secret files belong to them.
    let owner: (uid: UInt32, gid: UInt32)?
    /// How long a KMS call is tried again while the parent half is not up (kms.wait_seconds).
    let wait: Duration
    /// A stop during a KMS call or the wait for the parent ends the step at once.
    let interruption: BootInterruption?
    let logger: Logger

    public init(secrets: [Secret], client: KMSClient, key: AttestedKey, owner: (uid: UInt32, gid: UInt32)?, wait: Duration = .zero,
                interruption: BootInterruption? = nil, logger: Logger) {
        self.secrets = secrets
        self.client = client
        self.key = key
        self.owner = owner
        self.wait = wait
        self.interruption = interruption
        self.logger = logger
    }

    /// Failures that mean the parent half (or the path to KMS it relays) is not up yet, and
    /// may be by the next try: no credentials because its port did not answer, or KMS's path
    /// closed or timed out before TLS could start. KMS's own refusals, a certificate that does
    /// not chain, a malformed answer or envelope are final.
    static func parentMayNotBeUp(_ error: Error) -> Bool {
        switch error as? KMSFailure {
        case .parentNotListening?, .unreachable?: return true
        default: return false
        }
    }

    /// `decrypt`, tried again (200 ms, doubling to 2 s) while the parent half may not be up
    /// and `deadline` is not reached; said once.
    private func decryptWaitingForTheParent(_ secret: Secret, document: [UInt8], name: String, until deadline: ContinuousClock.Instant) throws -> SecretBytes {
        var delay = Duration.milliseconds(200)
        var said = false
        while true {
            do {
                return try interruptibly { try decrypt(secret, document: document) }
            } catch where Self.parentMayNotBeUp(error) && ContinuousClock.now + delay < deadline {
                if !said {
                    logger.info("secrets: \(name): \(error); the parent half may not be up yet: trying again for up to \(wait.components.seconds) s (kms.wait_seconds)")
                    said = true
                }
                try interruption?.sleep(delay)
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    /// `body` (a KMS call: TLS through the parent, up to its timeouts) on its own thread when
    /// the boot can be interrupted, so that a stop need not wait for it; an abandoned call's
    /// plaintext is wiped when the call's thread lets go of it.
    private func interruptibly(_ body: @escaping @Sendable () throws -> SecretBytes) throws -> SecretBytes {
        guard let interruption else { return try body() }
        return try interruption.run { Result { try body() } }.get()
    }

    public func load() throws(Failure) -> Outcome {
        var outcome = Outcome()
        let deadline = ContinuousClock.now + wait
        // One document for the step: every Decrypt of this boot goes out within seconds of it.
        var document: [UInt8]?
        for (index, secret) in secrets.enumerated() {
            let name = "secrets[\(index)] (\(secret.destination))"
            do {
                if document == nil { document = try key.document() }
                let plaintext = try decryptWaitingForTheParent(secret, document: document!, name: name, until: deadline)
                defer { plaintext.wipe() }
                switch secret.destination {
                case .env(let variable):
                    guard !plaintext.bytes.contains(0) else {
                        throw Failure(secret: name, reason: "the plaintext has a NUL byte, which an environment variable cannot hold; write it to a file")
                    }
                    outcome.environment.append((variable, String(decoding: plaintext.bytes, as: UTF8.self)))
                case .file(let path, let mode):
                    try SecretFile.write(plaintext, to: path, mode: mode, owner: owner)
                    outcome.files.append(path)
                }
                logger.info("secrets: \(name): \(plaintext.count) bytes decrypted for this enclave")
            } catch {
                if let interrupted = error as? BootInterruption.Interrupted {
                    throw Failure(secret: name, reason: "\(interrupted) during the KMS call", interruption: interrupted)
                }
                var failure = (error as? Failure) ?? Failure(secret: name, reason: "\(error)")
                // KMS says only "InvalidCiphertextException" when the context the ciphertext was
                // made with is missing: say where it would go.
                if case .kms(_, "InvalidCiphertextException", _)? = error as? KMSFailure, secret.encryptionContext.isEmpty {
                    failure.reason += "; if the ciphertext was made with an encryption context, give the same one in secrets[\(index)].encryption_context"
                }
                if secret.required { throw failure }
                outcome.skipped += 1
                logger.warning("secrets: \(failure) (optional: the app starts without it)")
            }
        }
        return outcome
    }

    private func decrypt(_ secret: Secret, document: [UInt8]) throws -> SecretBytes {
        var members: [(String, JSONOutput)] = [("CiphertextBlob", .string(try ciphertext(secret.source)))]
        if let keyID = secret.keyID { members.append(("KeyId", .string(keyID))) }
        if !secret.encryptionContext.isEmpty {
            members.append(("EncryptionContext", .object(secret.encryptionContext.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        members.append(("Recipient", RecipientOperation.recipient(document: document)))
        let answer = try client.call(operation: RecipientOperation.decrypt.rawValue, body: Array(JSONOutput.object(members).rendered(pretty: false).utf8))
        return try RecipientOperation.decrypt.openEnvelope(in: answer, with: key.key)
    }

    /// A ciphertext_file that cannot be had; the secret's name goes in front of it (load's catch).
    struct CiphertextFileProblem: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// The CiphertextBlob as base64: the boot JSON's, or a file's raw bytes or base64 text.
    private func ciphertext(_ source: Secret.Source) throws -> String {
        switch source {
        case .inline(let base64): return base64
        case .file(let path):
            let bytes: [UInt8]
            do { bytes = try FileContents.read(path, limit: Self.maximumCiphertextFileBytes) } catch {
                throw CiphertextFileProblem(reason: "ciphertext_file \(path): \(error)")
            }
            let text = String(decoding: bytes.filter { $0 != 10 && $0 != 13 && $0 != 32 }, as: UTF8.self)
            if bytes.allSatisfy({ $0 < 0x80 }), let decoded = try? Base64.decode(string: text), !decoded.isEmpty { return text }
            guard !bytes.isEmpty else { throw CiphertextFileProblem(reason: "ciphertext_file \(path): the file is empty") }
            return Base64.encodeToString(bytes: bytes)
        }
    }
}
