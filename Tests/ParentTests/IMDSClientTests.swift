import Addressing
import Foundation
import KMS
@testable import Parent
import Testing
import TestSupport

/// The IMDSv2 client against a stand-in of this test (a TCP listener on loopback answering each
/// request in turn): the token first, then the role, then its credentials, each with the token.
@Suite struct IMDSClientTests {
    /// Serves `answers` (status, body) one connection each; records each request head.
    private func imds(_ answers: [(Int, String)]) throws -> (IMDSClient, @Sendable () -> [String]) {
        let (listener, port) = try BlockingSocket.listen()
        let seen = Requests()
        Thread.detachNewThread {
            for (status, body) in answers {
                guard let connection = try? listener.accept() else { return }
                connection.setReceiveTimeout(seconds: 5)
                var head: [UInt8] = []
                while !head.suffix(4).elementsEqual([13, 10, 13, 10]), let byte = try? connection.read(upTo: 1), !byte.isEmpty { head += byte }
                seen.add(String(decoding: head, as: UTF8.self))
                try? connection.writeAll(Array("HTTP/1.1 \(status) X\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
            }
            _ = listener
        }
        return (IMDSClient(address: .loopback, port: port), { seen.all })
    }

    @Test func theTokenTheRoleAndItsCredentials() throws {
        let document = #"{"Code": "Success", "AccessKeyId": "ASIAROLE00000000", "SecretAccessKey": "s3cr3t", "Token": "t", "Expiration": "2030-01-01T00:00:00Z"}"#
        let (client, requests) = try imds([(200, "token-1"), (200, "app-role\n"), (200, document)])
        let credentials = try client.credentials()
        #expect(credentials.accessKeyID == "ASIAROLE00000000" && credentials.source == "role app-role")
        #expect(credentials.description == "role app-role credentials, expiring 2030-01-01T00:00:00Z")
        let heads = requests()
        #expect(heads.count == 3)
        #expect(heads.first?.hasPrefix("PUT /latest/api/token HTTP/1.1\r\n") == true)
        #expect(heads.first?.contains("X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n") == true)
        #expect(heads.dropFirst().first?.hasPrefix("GET /latest/meta-data/iam/security-credentials/ HTTP/1.1") == true)
        #expect(heads.last?.hasPrefix("GET /latest/meta-data/iam/security-credentials/app-role HTTP/1.1") == true)
        #expect(heads.dropFirst().allSatisfy { $0.contains("X-aws-ec2-metadata-token: token-1\r\n") })
    }

    @Test func anInstanceWithoutARoleIsNamed() throws {
        let (client, _) = try imds([(200, "token-1"), (404, "")])
        #expect(throws: KMSFailure.noCredentials("the instance has no IAM role (IMDS answered HTTP 404 for /latest/meta-data/iam/security-credentials/); attach an instance profile")) {
            try client.credentials()
        }
    }

    @Test func anUnreachableIMDSIsNamedAsIMDS() throws {
        let (listener, port) = try BlockingSocket.listen()
        _ = consume listener // nothing listens there now
        #expect { try IMDSClient(address: .loopback, port: port).credentials() } throws: { error in
            "\(error)".hasPrefix("no credentials from the parent: IMDS: connect to 127.0.0.1:\(port)")
        }
    }
}

private final class Requests: @unchecked Sendable {
    private let lock = NSLock()
    private var heads: [String] = []
    func add(_ head: String) { lock.withLock { heads.append(head) } }
    var all: [String] { lock.withLock { heads } }
}
