import Addressing
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
        let (path, served) = try parent([wire(key: "ASIAFIRST", expiresIn: 3600), wire(key: "ASIASECOND", expiresIn: 200),
                                         wire(key: "ASIATHIRD", expiresIn: 3600)])
        let credentials = ParentCredentials(endpoint: .unix(path: path))
        #expect(try credentials.current().accessKeyID == "ASIAFIRST")
        #expect(try credentials.current().accessKeyID == "ASIAFIRST", "an hour left: the copy is kept")
        #expect(served() == 1)
        let near = ParentCredentials(endpoint: .unix(path: path))
        #expect(try near.current().accessKeyID == "ASIASECOND")
        // 200 s left is within the 300 s margin: the next use asks the parent again.
        #expect(try near.current().accessKeyID == "ASIATHIRD")
    }

    @Test func whatTheParentSendsIsCheckedAndNamed() throws {
        let expired = AWSCredentials(accessKeyID: "ASIAOLD", secretAccessKey: "s", sessionToken: nil, expiration: Int(time(nil)) - 10,
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

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
