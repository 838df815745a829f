import Addressing
import BootConfig
import DocumentReading
import Foundation
import Glibc
@testable import KMS
import Testing
import TestSupport

/// The enclave's copy of the role's credentials: kept while far from expiry, asked for again
/// when near it; what the parent sends is bounded and parsed strictly. The parent here is a
/// listener of this test on a Unix socket (the vsock emulation's shape).
@Suite struct ParentCredentialsTests {
    let directory: TemporaryDirectory
    init() throws { directory = try TemporaryDirectory() }

    /// Answers each connection with the next of `answers`, counting them.
    private func parent(_ answers: [String]) throws -> (String, @Sendable () -> Int) {
        let path = directory.path + "/credentials"
        let listener = try BlockingSocket.listen(unixPath: path)
        let served = Counter()
        Thread.detachNewThread {
            for answer in answers {
                guard let connection = try? listener.accept() else { return }
                try? connection.writeAll(Array(answer.utf8))
                served.add()
            }
            _ = listener
        }
        return (path, { served.value })
    }

    private func wire(key: String, expiresIn seconds: Int) -> String {
        AWSCredentials(accessKeyID: key, secretAccessKey: "secret", sessionToken: "token",
                       expiration: Int(time(nil)) + seconds, source: "role test").wireJSON
    }

    @Test func aCopyFarFromExpiryIsKeptAndOneNearItIsAskedForAgain() throws {
        let (path, served) = try parent([wire(key: "ASIAFIRST0000000", expiresIn: 3600), wire(key: "ASIASECOND000000", expiresIn: 200),
                                         wire(key: "ASIATHIRD0000000", expiresIn: 3600)])
        let credentials = ParentCredentials(endpoint: .unix(path: path))
        #expect(try credentials.current().accessKeyID == "ASIAFIRST0000000")
        #expect(try credentials.current().accessKeyID == "ASIAFIRST0000000", "an hour left: the copy is kept")
        #expect(served() == 1)
        let near = ParentCredentials(endpoint: .unix(path: path))
        #expect(try near.current().accessKeyID == "ASIASECOND000000")
        // 200 s left is within the 300 s margin: the next use asks the parent again.
        #expect(try near.current().accessKeyID == "ASIATHIRD0000000")
    }

    @Test func whatTheParentSendsIsCheckedAndNamed() throws {
        let expired = AWSCredentials(accessKeyID: "ASIAOLD000000000", secretAccessKey: "s", sessionToken: nil, expiration: Int(time(nil)) - 10,
                                     source: "role test").wireJSON
        let (path, _) = try parent([AWSCredentials.errorJSON("IMDS at 169.254.169.254:80: no route"), expired, "not json",
                                    String(repeating: "x", count: 20_000)])
        let cases = ["no credentials from the parent: IMDS at 169.254.169.254:80: no route",
                     "no credentials from the parent: the parent's credentials expired at",
                     "no credentials from the parent: not JSON",
                     "no credentials from the parent: the parent sent more than 16384 bytes"]
        for expected in cases {
            #expect { try ParentCredentials(endpoint: .unix(path: path)).current() } throws: { error in
                "\(error)".hasPrefix(expected) || { Issue.record("\(error)"); return false }()
            }
        }
        #expect(throws: KMSFailure.self) { try ParentCredentials(endpoint: .unix(path: directory.path + "/nobody"), timeoutMilliseconds: 500).current() }
    }
}

/// The parent writes the credentials, so it must not be able to write the enclave's request
/// with them: a session token with CR LF in it would add its own headers, or a whole second
/// request whose (genuine, TLS-protected) answer KMS sends back to the first.
@Suite struct HostileCredentialsTests {
    static let injected = "IQoJb3JpZ2luX2VjE\r\nX-Amz-Target: TrentService.Verify\r\n\r\nPOST / HTTP/1.1\r\nHost: kms"

    @Test(arguments: [("Token", injected), ("Token", "abc def"), ("Token", "abc\u{0}"), ("SecretAccessKey", "wJalr\nXUtn"),
                      ("AccessKeyId", "ASIA\r\nX: 1000000000"), ("AccessKeyId", "asiashortlower")])
    func aCredentialOutsideItsAlphabetIsRefusedNamingTheField(_ field: String, _ value: String) throws {
        var members: [(String, JSONOutput)] = [("AccessKeyId", .string("ASIAEXAMPLEKEY000000")), ("SecretAccessKey", .string("wJalrXUtnFEMI/K7MDENG")),
                                               ("Token", .string("IQoJb3JpZ2luX2VjE"))]
        members = members.map { $0.0 == field ? ($0.0, .string(value)) : $0 }
        let wire = Array(JSONOutput.object(members).rendered(pretty: false).utf8)
        #expect { try AWSCredentials.parse(wire) } throws: { error in
            let text = "\(error)"
            return text.hasPrefix(field) && !text.contains(value) && !text.contains("X-Amz-Target")
        }
    }

    @Test func aTokenAtTheLengthLimitIsTakenAndOneOverIsNot() throws {
        func wire(_ token: String) -> [UInt8] {
            Array(JSONOutput.object([("AccessKeyId", .string("ASIAEXAMPLEKEY000000")), ("SecretAccessKey", .string("s")),
                                     ("Token", .string(token))]).rendered(pretty: false).utf8)
        }
        #expect(try AWSCredentials.parse(wire(String(repeating: "A", count: AWSCredentials.maximumTokenLength))).sessionToken?.count == 8192)
        #expect(throws: AWSCredentials.Malformed.self) { try AWSCredentials.parse(wire(String(repeating: "A", count: 8193))) }
    }

    /// The whole path, as the attack: a parent (a listener of this test in the vsock
    /// emulation's shape) serves the injected token; the KMS call fails naming the field, and
    /// nothing at all reaches the KMS side (a listener that sees no connection).
    @Test func theEnclaveSendsNothingToKMSWithAnInjectedToken() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/3-8010"
        let parent = try BlockingSocket.listen(unixPath: path)
        let served = JSONOutput.object([("AccessKeyId", .string("ASIAEXAMPLEKEY000000")), ("SecretAccessKey", .string("secret")),
                                        ("Token", .string(Self.injected))]).rendered(pretty: false)
        Thread.detachNewThread {
            guard let connection = try? parent.accept() else { return }
            try? connection.writeAll(Array(served.utf8))
        }
        let (kms, port) = try BlockingSocket.listen()
        let client = KMSClient(settings: KMSSettings(region: "us-east-1", credentialsVsockPort: 8010),
                               route: .alias(address: IPv4Address("127.0.0.1")!, port: port),
                               credentials: ParentCredentials(endpoint: .unix(path: path)))
        #expect { try client.send(operation: "Verify", body: Array("{}".utf8)) } throws: { error in
            "\(error)" == "no credentials from the parent: Token has a character outside visible ASCII (a CR, LF, space or control character): refused, it would go into a request header"
        }
        var waiting = pollfd(fd: kms.fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&waiting, 1, 200) == 0, "KMS's side saw a connection")
    }

    /// Credentials that never went through the parser (a future caller) still cannot write a
    /// header: the head writer refuses, before anything is connected.
    @Test func theHeadWriterRefusesWhatTheParserWouldHave() throws {
        struct Unchecked: CredentialsProviding {
            func current() throws(KMSFailure) -> AWSCredentials {
                AWSCredentials(accessKeyID: "ASIAEXAMPLEKEY000000", secretAccessKey: "s", sessionToken: HostileCredentialsTests.injected,
                               expiration: nil, source: "test")
            }
        }
        let (kms, port) = try BlockingSocket.listen()
        let client = KMSClient(settings: KMSSettings(region: "us-east-1", credentialsVsockPort: 8010),
                               route: .alias(address: IPv4Address("127.0.0.1")!, port: port), credentials: Unchecked())
        #expect { try client.send(operation: "Decrypt", body: []) } throws: { error in
            guard case KMSFailure.unsafeRequest(let reason) = error else { return false }
            return reason.hasPrefix("X-Amz-Security-Token: its value has a CR or LF") && !reason.contains("TrentService.Verify")
        }
        var waiting = pollfd(fd: kms.fd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&waiting, 1, 200) == 0, "KMS's side saw a connection")
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
