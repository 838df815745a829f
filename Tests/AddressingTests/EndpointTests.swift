import Addressing
import Testing

@Suite struct EndpointTests {
    @Test(arguments: [
        ("vsock:3:8000", Endpoint.vsock(cid: 3, port: 8000)),
        ("vsock:16:5000", .vsock(cid: 16, port: 5000)),
        ("unix:/tmp/x.sock", .unix(path: "/tmp/x.sock")),
        ("tcp:127.0.0.1:443", .tcp(host: "127.0.0.1", port: 443)),
        ("tcp:[::1]:80", .tcp(host: "::1", port: 80)),
        ("tcp:kms.example.com:443", .tcp(host: "kms.example.com", port: 443)),
    ])
    func parsesAndPrintsBack(_ text: String, _ endpoint: Endpoint) throws {
        #expect(try Endpoint.parse(text).get() == endpoint)
        #expect(endpoint.description == text)
    }

    @Test(arguments: ["vsock:3", "vsock:0:1", "vsock:3:0", "vsock:3:4294967295", "vsock:x:1", "unix:", "tcp:host", "tcp:[::1]", "udp:1.2.3.4:5", "3:8000"])
    func rejectsMalformedEndpoints(_ text: String) {
        #expect((try? Endpoint.parse(text).get()) == nil)
    }

    @Test func emulationMapsVsockToUnixSockets() throws {
        let emulation = try #require(VsockEmulation(environment: ["ENCLAVE_INIT_VSOCK_DIR": "/run/vs"], defaultCID: VsockEmulation.defaultEnclaveCID))
        #expect(emulation.connectPath(cid: 3, port: 8000) == "/run/vs/3-8000")
        #expect(emulation.listenPath(port: 5000) == "/run/vs/16-5000")
        #expect(emulation.emulate(connectingTo: .vsock(cid: 3, port: 9000)) == .unix(path: "/run/vs/3-9000"))
        #expect(emulation.emulate(connectingTo: .tcp(host: "127.0.0.1", port: 1)) == .tcp(host: "127.0.0.1", port: 1))
        let parent = VsockEmulation(environment: ["ENCLAVE_INIT_VSOCK_DIR": "/run/vs", "ENCLAVE_INIT_VSOCK_CID": "3"], defaultCID: 16)
        #expect(parent?.listenPath(port: 8000) == "/run/vs/3-8000")
        #expect(VsockEmulation(environment: [:], defaultCID: 16) == nil)
    }
}
