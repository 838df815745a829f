import ExtrasBase64
import Foundation
@testable import KMS
import Testing
import TestSupport

/// CiphertextForRecipient as `openssl cms` makes it (the structure KMS sends: RSAES-OAEP-SHA256
/// key transport, AES-256-CBC content), with definite lengths and with -stream's indefinite
/// ones; unwrapped with the enclave's key made here.
@Suite struct EnvelopeTests {
    let directory: TemporaryDirectory
    let key: RecipientKey

    init() throws {
        directory = try TemporaryDirectory()
        key = try RecipientKey()
    }

    private func sh(_ command: String) throws {
        let result = try ProcessRunner.run("/bin/sh", ["-c", "cd \(directory.path) && \(command)"])
        #expect(result.status == 0, "\(command): \(result.stderr)")
    }

    /// A certificate for `key`'s public half (openssl cms wants a certificate; whoever signs it
    /// does not matter to the envelope), then the envelope of `plaintext` to it.
    private func envelope(_ plaintext: [UInt8], stream: Bool, to publicKeyDER: [UInt8]? = nil) throws -> [UInt8] {
        _ = try directory.write("pub.der", bytes: publicKeyDER ?? key.publicKeyDER)
        _ = try directory.write("plain", bytes: plaintext)
        try sh("openssl pkey -pubin -inform DER -in pub.der -out pub.pem"
            + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -subj /CN=test-ca -days 1 -out ca.crt 2>/dev/null"
            + " && openssl req -new -key ca.key -subj /CN=enclave -out recipient.csr"
            + " && openssl x509 -req -in recipient.csr -CA ca.crt -CAkey ca.key -CAcreateserial -force_pubkey pub.pem -days 1 -out recipient.crt 2>/dev/null"
            + " && openssl cms -encrypt -binary -aes-256-cbc -recip recipient.crt -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256"
            + " -outform DER \(stream ? "-stream" : "") -in plain -out envelope.der")
        return Array(try Data(contentsOf: URL(fileURLWithPath: directory.path + "/envelope.der")))
    }

    @Test(arguments: [false, true])
    func anOpenSSLEnvelopeUnwraps(stream: Bool) throws {
        let plaintext = Array("correct horse battery staple \u{1F40E}".utf8) + [0, 1, 2, 255]
        let envelope = try envelope(plaintext, stream: stream)
        // -stream writes BER with indefinite lengths (0x30 0x80), the other DER.
        #expect(envelope.prefix(2) == (stream ? [0x30, 0x80] : [0x30, 0x82]) || (!stream && envelope[1] != 0x80))
        #expect(try key.unwrap(envelope).bytes == plaintext)
    }

    @Test func aLargePlaintextInManyChunksUnwraps() throws {
        let plaintext = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(try key.unwrap(try envelope(plaintext, stream: true)).bytes == plaintext)
    }

    @Test func anEnvelopeForAnotherKeyIsRefused() throws {
        let other = try RecipientKey()
        let envelope = try envelope(Array("for someone else".utf8), stream: false, to: other.publicKeyDER)
        #expect { try key.unwrap(envelope) } throws: { error in
            guard case RecipientKey.Failure.decryption = error else { return false }
            return true
        }
        #expect(try other.unwrap(envelope).bytes == Array("for someone else".utf8))
    }

    @Test func garbageAndTruncationAreNamed() throws {
        let envelope = try envelope(Array("x".utf8), stream: false)
        for bad in [[], [0x30, 0x03, 0x02, 0x01, 0x01], Array(envelope.prefix(envelope.count / 2)), Array(repeating: 0xFF, count: 300)] as [[UInt8]] {
            #expect { try key.unwrap(bad) } throws: { error in
                guard case RecipientKey.Failure.malformedEnvelope = error else { return false }
                return true
            }
        }
    }

    @Test func thePublicKeyIsAnRSA2048SubjectPublicKeyInfo() throws {
        _ = try directory.write("pub.der", bytes: key.publicKeyDER)
        let result = try ProcessRunner.run("/bin/sh", ["-c", "openssl pkey -pubin -inform DER -in \(directory.path)/pub.der -text -noout"])
        #expect(result.stdout.contains("Public-Key: (2048 bit)"), "\(result.output)")
    }

    /// The proxy's rewrites: Recipient added (the caller's own kept), the answer's envelope
    /// turned into the operation's plaintext field.
    @Test func recipientJSONBothWays() throws {
        let added = try #require(try RecipientOperation.addingRecipient(document: [1, 2, 3], to: Array(#"{"KeyId": "alias/a", "NumberOfBytes": 32}"#.utf8)))
        #expect(String(decoding: added, as: UTF8.self)
                == #"{"KeyId":"alias/a","NumberOfBytes":32,"Recipient":{"KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256","AttestationDocument":"AQID"}}"#)
        #expect(try RecipientOperation.addingRecipient(document: [1], to: Array(#"{"Recipient": {}}"#.utf8)) == nil)

        let envelope = try envelope(Array("data key bytes".utf8), stream: true)
        let answer = #"{"KeyId": "arn:k", "Plaintext": null, "CiphertextBlob": "AQID", "CiphertextForRecipient": "\#(Base64.encodeToString(bytes: envelope))"}"#
        let unwrapped = try RecipientOperation.generateDataKey.unwrapping(Array(answer.utf8), with: key)
        #expect(String(decoding: unwrapped, as: UTF8.self)
                == #"{"KeyId":"arn:k","Plaintext":"\#(Base64.encodeToString(bytes: Array("data key bytes".utf8)))","CiphertextBlob":"AQID"}"#)
        let pair = try RecipientOperation.generateDataKeyPair.unwrapping(Array(#"{"CiphertextForRecipient": "\#(Base64.encodeToString(bytes: envelope))"}"#.utf8), with: key)
        #expect(String(decoding: pair, as: UTF8.self).contains(#""PrivateKeyPlaintext":"#))
        #expect(throws: KMSFailure.malformedResponse("Decrypt answered without CiphertextForRecipient")) {
            try RecipientOperation.decrypt.unwrapping(Array(#"{"Plaintext": "AQID"}"#.utf8), with: key)
        }
    }

    @Test func httpRepliesAreFramed() throws {
        let chunked = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n".utf8)
        #expect(try HTTPReply.parse(chunked, ended: false)?.body == Array("abcdef".utf8))
        #expect(try HTTPReply.parse(Array(chunked.prefix(40)), ended: false) == nil)
        let sized = Array("HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nx-amzn-RequestId: r1\r\n\r\n{}x".utf8)
        let reply = try #require(try HTTPReply.parse(sized, ended: false))
        #expect(reply.status == 400 && reply.body == Array("{}x".utf8) && reply.value(of: "X-AMZN-REQUESTID") == "r1")
        #expect(throws: KMSFailure.protocolError("the body ended after 1 of 3 bytes")) {
            try HTTPReply.parse(Array("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n{".utf8), ended: true)
        }
        let error = HTTPReply(status: 400, headers: [], body: Array(#"{"__type": "com.amazonaws.kms#AccessDeniedException", "message": "no"}"#.utf8))
        #expect(KMSClient.failure(from: error) == .kms(status: 400, type: "AccessDeniedException", message: "no"))
    }
}
