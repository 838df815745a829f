import Addressing
import Foundation
import KMS
@testable import Parent
import Relay
import Testing
import TestSupport

/// Only the enclave gets the role's credentials: the server reads each connection's CID (the
/// emulation's source address here, vsock's own svm_cid on Nitro) and refuses any other, with a
/// log line naming it. The clients are ParentCredentials, the enclave's own reader, connecting
/// as one CID or another.
@Suite struct CredentialsServerTests {
    @Test func onlyTheEnclavesCIDGetsTheCredentials() throws {
        let directory = try TemporaryDirectory()
        let emulation = VsockEmulation(directory: directory.path, localCID: 3)
        let log = LogCapture()
        let server = CredentialsServer(listen: .vsock(port: 8010), emulation: emulation, enclave: .fixed(16),
                                       environment: ["AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY000000", "AWS_SECRET_ACCESS_KEY": "secret"],
                                       logger: log.logger)
        try server.start()
        defer { server.stop() }
        #expect(server.listening.first?.description == "kms credentials vsock:any:8010 <- this process's environment (AWS_ACCESS_KEY_ID), for the enclave at CID 16 only")
        let socket = Endpoint.unix(path: directory.path + "/3-8010")

        let enclave = ParentCredentials(endpoint: socket, emulatedSourceCID: 16)
        #expect(try enclave.current().accessKeyID == "AKIAEXAMPLEKEY000000")

        // Another enclave on the same instance.
        #expect { try ParentCredentials(endpoint: socket, emulatedSourceCID: 17).current() } throws: { error in
            "\(error)" == "no credentials from the parent: refused: this parent serves credentials to its enclave only"
        }
        // A peer with no CID at all (a plain Unix socket client).
        #expect(throws: KMSFailure.self) { try ParentCredentials(endpoint: socket).current() }
        let warnings = log.messages(at: .warning)
        #expect(warnings.contains("kms credentials: refused a connection from CID 17: only the enclave, CID 16, is served"), "\(warnings)")
        #expect(!warnings.joined().contains("secret"))
    }

    /// With --enclave-name the CID is nitro-cli's answer, asked when a connection arrives.
    @Test func aLookedUpEnclaveIsCheckedTooAndAFailedLookupRefuses() throws {
        let directory = try TemporaryDirectory()
        let emulation = VsockEmulation(directory: directory.path, localCID: 3)
        let log = LogCapture()
        let answers = Answers([.success(21), .failure(ParentError.noSuchEnclave(name: "app", running: []))])
        let server = CredentialsServer(listen: .vsock(port: 8010), emulation: emulation,
                                       enclave: .lookup(description: "enclave app", find: { try answers.next() }),
                                       environment: ["AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY000000", "AWS_SECRET_ACCESS_KEY": "secret"],
                                       logger: log.logger)
        try server.start()
        defer { server.stop() }
        let socket = Endpoint.unix(path: directory.path + "/3-8010")
        #expect(try ParentCredentials(endpoint: socket, emulatedSourceCID: 21).current().accessKeyID == "AKIAEXAMPLEKEY000000")
        #expect(throws: KMSFailure.self) { try ParentCredentials(endpoint: socket, emulatedSourceCID: 21).current() }
        #expect(log.messages(at: .warning).contains { $0.contains("refused a connection from CID 21: enclave app's CID is unknown (no enclave named app") },
                "\(log.messages(at: .warning))")
    }
}

private final class Answers: @unchecked Sendable {
    private let lock = NSLock()
    private var queue: [Result<UInt32, Error>]
    init(_ queue: [Result<UInt32, Error>]) { self.queue = queue }
    func next() throws -> UInt32 { try lock.withLock { queue.removeFirst() }.get() }
}
