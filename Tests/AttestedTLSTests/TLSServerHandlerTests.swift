import AttestedTLS
import Foundation
import NIOCore
import NIOPosix
import Testing
import TestSupport

/// The TLS engine against clients nobody here wrote: Python's `ssl` (OpenSSL underneath, but its
/// own handshake driving and checks) and `openssl s_client`, through a NIO echo server.
@Suite struct TLSServerHandlerTests {
    final class Echo: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.write(data, promise: nil)
        }
        func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
    }

    static func server(_ tls: TLSServerContext, group: EventLoopGroup) throws -> Channel {
        try ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(try TLSServerHandler(context: tls))
                    try channel.pipeline.syncOperations.addHandler(Echo())
                }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
    }

    /// An echo server behind TLS for `names`, on a free port; `body` gets the identity, the port
    /// and the certificate's PEM file (the client's CA).
    static func withEchoServer(names: [String], _ body: (EphemeralIdentity, Int, String) throws -> Void) throws {
        let identity = try EphemeralIdentity(names: names)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let channel = try server(try TLSServerContext(identity: identity), group: group)
        defer { try? channel.close().wait() }
        let port = try #require(channel.localAddress?.port)
        let scratch = try TemporaryDirectory()
        try body(identity, port, try scratch.write("cert.pem", identity.certificatePEM))
    }

    @Test func pythonsSSLClientVerifiesTheCertificateAndGetsEveryByteBack() throws {
        try Self.withEchoServer(names: ["app.example.test", "alt.example.test"]) { _, port, ca in
        let client = """
            import socket, ssl, sys
            context = ssl.create_default_context(cafile=sys.argv[2])   # verifies the chain and the name
            with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as raw:
                with context.wrap_socket(raw, server_hostname="alt.example.test") as tls:
                    payload = bytes(range(256)) * 4096                  # 1 MiB
                    tls.sendall(payload)
                    received = b""
                    while len(received) < len(payload):
                        chunk = tls.recv(65536)
                        if not chunk: break
                        received += chunk
                    print(tls.version(), received == payload)
                    tls.unwrap()                                        # close_notify both ways
            """
        let result = try ProcessRunner.run(Peers.python, ["-c", client, String(port), ca])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "TLSv1.3 True\n", "\(result.stdout)\(result.stderr)")
        }
    }

    @Test func aWrongNameIsRefusedByTheClientAndTheKeyHashIsTheCertificatesOwn() throws {
        try Self.withEchoServer(names: ["app.example.test"]) { identity, port, ca in
        // openssl names the mismatch; it exits non-zero with -verify_return_error.
        let wrong = try ProcessRunner.run("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", ca,
                                                               "-verify_hostname", "other.example.test", "-verify_return_error", "-brief"],
                                          stdin: "")
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("hostname mismatch"), "\(wrong.stderr)")
        // The SHA-256 of the SubjectPublicKeyInfo, as openssl computes it from the PEM.
        let spki = try ProcessRunner.run("/bin/sh", ["-c", "openssl x509 -in \(ca) -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum"])
        let expected = identity.publicKeySHA256.map { String(format: "%02x", $0) }.joined()
        #expect(spki.stdout.hasPrefix(expected), "\(spki.stdout) vs \(expected)")
        }
    }

    @Test func namesThatAreNotDNSNamesAreRefused() {
        for names in [[], ["under_score.test"], ["-lead.test"], ["a..b"], [String(repeating: "a", count: 64) + ".test"]] {
            #expect(throws: EphemeralIdentity.Failure.self, "\(names)") { try EphemeralIdentity(names: names) }
        }
    }
}

/// A CA's chain for the ingress's key, as ACME hands it over (PEM, the leaf first).
@Suite struct IssuedChainTests {
    @Test func theLeafAndItsIntermediatesAreKeptAndTheLeafMustBeForTheKey() throws {
        let key = try TLSKey()
        let leaf = try EphemeralIdentity(names: ["app.example.test"], key: key)
        let intermediate = try EphemeralIdentity(names: ["intermediate.example.test"])
        let chain = try EphemeralIdentity(key: key, chainPEM: leaf.certificatePEM + intermediate.certificatePEM)
        #expect(chain.isIssued && chain.certificateSHA256 == leaf.certificateSHA256)
        #expect(chain.certificatePEM == leaf.certificatePEM + intermediate.certificatePEM, "the app's file holds the whole chain")
        #expect(chain.notAfter > chain.notBefore)
        #expect(throws: EphemeralIdentity.Failure.self) { try EphemeralIdentity(key: try TLSKey(), chainPEM: leaf.certificatePEM) }
        #expect(throws: EphemeralIdentity.Failure.self) { try EphemeralIdentity(key: key, chainPEM: "no certificate here") }
    }
}
