import Foundation
@testable import KMS
import Testing
import TestSupport

/// SigV4 against AWS's published examples (aws-sig-v4-test-suite: get-vanilla, post-vanilla,
/// get-vanilla-query-order-key-case) and against botocore's signer, which nobody here wrote.
@Suite struct SigV4Tests {
    static let example = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                        sessionToken: nil, expiration: nil, source: "test")
    let signer = SigV4(region: "us-east-1", service: "service")
    let stamp = SigV4.Timestamp(amzDate: "20150830T123600Z")

    @Test(arguments: [
        ("GET", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        ("POST", "/", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ("GET", "/", "Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ])
    func theTestSuitesAnswers(_ method: String, _ path: String, _ query: String, _ signature: String) {
        let signed = signer.sign(method: method, path: path, query: query, headers: [("Host", "example.amazonaws.com")], body: [],
                                 credentials: Self.example, at: stamp)
        let authorization = signed.headers.first { $0.name == "Authorization" }?.value
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=\(signature)",
                "\(signed.canonicalRequest)")
    }

    @Test func theTimestampIsUTC() {
        #expect(SigV4.Timestamp(secondsSinceEpoch: 1_440_938_160).amzDate == "20150830T123600Z")
        #expect(AWSCredentials.parseISO8601("2015-08-30T12:36:00Z") == 1_440_938_160)
        #expect(AWSCredentials.parseISO8601("2015-08-30T12:36:00.123Z") == 1_440_938_160)
        #expect(AWSCredentials.parseISO8601("2015-08-30 12:36:00") == nil)
        #expect(AWSCredentials.iso8601(1_440_938_160) == "2015-08-30T12:36:00Z")
    }

    /// A KMS request as enclave-init sends it (session token, X-Amz-Target, a JSON body), signed
    /// here and by botocore at the same instant: the same Authorization.
    @Test func botocoreSignsTheSameKMSRequest() throws {
        let credentials = AWSCredentials(accessKeyID: "ASIAEXAMPLEKEY123456", secretAccessKey: "secret/with+chars=",
                                         sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE//token==", expiration: nil, source: "test")
        let body = #"{"CiphertextBlob": "AQIDBA==", "EncryptionContext": {"app": "billing"}}"#
        let headers: [(name: String, value: String)] = [("Host", "kms.eu-west-1.amazonaws.com"), ("Content-Type", "application/x-amz-json-1.1"),
                                                        ("X-Amz-Target", "TrentService.Decrypt")]
        let ours = SigV4(region: "eu-west-1", service: "kms").sign(method: "POST", path: "/", headers: headers, body: Array(body.utf8),
                                                                  credentials: credentials, at: SigV4.Timestamp(amzDate: "20261207T101500Z"))
        let script = """
        import datetime, sys
        from unittest import mock
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        request = AWSRequest(method="POST", url="https://kms.eu-west-1.amazonaws.com/", data=sys.argv[1].encode(),
                             headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Decrypt"})
        credentials = Credentials("ASIAEXAMPLEKEY123456", "secret/with+chars=", "IQoJb3JpZ2luX2VjEXAMPLE//token==")
        with mock.patch("botocore.auth.get_current_datetime", return_value=datetime.datetime(2026, 12, 7, 10, 15, 0)):
            SigV4Auth(credentials, "kms", "eu-west-1").add_auth(request)
        print(request.headers["Authorization"])
        """
        let result = try ProcessRunner.run("/usr/bin/env", [Peers.python, "-c", script, body])
        #expect(result.status == 0, "\(result.stderr)")
        let botocore = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(ours.headers.first { $0.name == "Authorization" }?.value == botocore, "\(ours.canonicalRequest)")
        #expect(ours.headers.contains { $0.name == "X-Amz-Security-Token" && $0.value == credentials.sessionToken })
    }

    @Test func pathsAndQueriesAreCanonical() {
        #expect(SigV4.canonicalPath("/") == "/")
        #expect(SigV4.canonicalPath("/a/./b/../c") == "/a/c")
        #expect(SigV4.canonicalPath("/a b") == "/a%20b")
        #expect(SigV4.canonicalQuery("b=2&a=1&a=0") == "a=0&a=1&b=2")
        #expect(SigV4.canonicalQuery("k=a%20b") == "k=a%20b")
    }

    @Test func credentialsNeverPrintTheirSecrets() throws {
        let wire = Array(#"{"AccessKeyId": "ASIAXYZ000000000", "SecretAccessKey": "s3cr3t", "Token": "t0k3n", "Expiration": "2030-01-01T00:00:00Z", "Source": "role app"}"#.utf8)
        let credentials = try AWSCredentials.parse(wire)
        #expect(credentials.description == "role app credentials, expiring 2030-01-01T00:00:00Z")
        #expect(!"\(credentials)".contains("s3cr3t") && !"\(credentials)".contains("t0k3n"))
        #expect(try AWSCredentials.parse(Array(credentials.wireJSON.utf8)) == credentials)
        #expect(throws: AWSCredentials.Malformed(reason: "IMDS is down")) { try AWSCredentials.parse(Array(AWSCredentials.errorJSON("IMDS is down").utf8)) }
        #expect(throws: AWSCredentials.Malformed.self) { try AWSCredentials.parse(Array(#"{"AccessKeyId": "bad key", "SecretAccessKey": "x"}"#.utf8)) }
    }
}
