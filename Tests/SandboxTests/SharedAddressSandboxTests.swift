import Foundation
import Testing
import TestSupport

/// Many names on one address, as CDNs, load balancers, S3 and API gateways serve them, through
/// both halves: the app resolves with glibc (through the stub, from the parent's answers or the
/// stub's cache) and connects directly; the capture judges each connection by every name the
/// app was recently given for its address. Names and servers exist only in the parent's
/// network namespace (TestHosts).
@Suite(.serialized) struct SharedAddressSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    @Test func everyNameAnAddressWasGivenCountsAndDenyStillWins() throws {
        let out = scratch.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        // Each name is allowed on its own port only; misc and evil resolve only because an
        // address rule exists (any name may then); evil is denied on the very port api is
        // allowed on; shielded is allowed, but its address is denied.
        let config = try scratch.write("boot.json", """
            {"version": 1,
             "egress": {"port": 3128, "vsock_port": 8001, "transparent": true,
                        "allow": ["api.example.test:7007", "cdn.example.test:7008", "shielded.example.test:7007", "198.18.0.20:7009"],
                        "deny": ["evil.example.test:7007", "198.18.0.11"]},
             "dns": {"vsock_port": 8053}}
            """)
        let shared = "198.18.0.10"
        let hosts = TestHosts(records: [("api.example.test", shared), ("cdn.example.test", shared), ("misc.example.test", shared),
                                        ("evil.example.test", shared), ("plain.example.test", "198.18.0.20"),
                                        ("shielded.example.test", "198.18.0.11")],
                              echoes: [(shared, 7007), (shared, 7008), (shared, 7011), ("198.18.0.20", 7009), ("198.18.0.11", 7007)])
        let parent = try hosts.startParent(config: config, vsock: vsock, scratch: scratch)
        let client = try scratch.write("client.py", TestHosts.client)
        // In this order: each step's names are the ones resolved before it.
        let steps: [(file: String, host: String, port: Int)] = [
            ("1-api", "api.example.test", 7007),          // forwarded; api the only name
            ("2-cdn", "cdn.example.test", 7008),          // forwarded; cdn now the latest name
            ("3-api-literal", shared, 7007),              // no new lookup: api still counts after cdn
            ("4-misc", "misc.example.test", 7007),        // a name only an address rule lets resolve
            ("5-api-cached", "api.example.test", 7007),   // from the stub's cache, after the others
            ("6-evil", "evil.example.test", 7007),        // denied on 7007, but api shares the address
            ("7-nobody", shared, 7011),                   // no name is allowed on 7011
            ("8-plain", "plain.example.test", 7009),      // the address rule allows it
            ("9-shielded", "shielded.example.test", 7007), // allowed name, denied address
        ]
        let app = "unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY\n"
            + steps.map { "python3 \(client) \($0.host) \($0.port) > \(out)/\($0.file)\n" }.joined()
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", app], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock])
        let result = enclave.wait(timeout: .seconds(90))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        let log = result?.stderr ?? ""

        for step in ["1-api", "2-cdn", "3-api-literal", "4-misc", "5-api-cached", "6-evil", "8-plain"] {
            #expect(TestHosts.echoed(scratch.text("out/" + step)), "\(step): \(scratch.text("out/" + step))\n\(log)")
        }
        for step in ["7-nobody", "9-shielded"] {
            #expect(TestHosts.refused(scratch.text("out/" + step)), "\(step): \(scratch.text("out/" + step))")
        }
        // The refusal names every name the address was given, the most recent first.
        #expect(log.contains("egress: refused: egress policy (captured \(shared):7011, named evil.example.test, api.example.test, "
                             + "misc.example.test, cdn.example.test): no allow rule matches evil.example.test:7011; "
                             + "no allow rule matches api.example.test:7011; no allow rule matches misc.example.test:7011; "
                             + "no allow rule matches cdn.example.test:7011; no allow rule matches \(shared):7011"), "\(log)")
        #expect(log.contains("egress: refused: egress policy (captured 198.18.0.11:7007, named shielded.example.test): "
                             + "198.18.0.11:7007 is denied by \"198.18.0.11\""), "\(log)")
        // Step 5 was answered from the stub's cache (A; the AAAA questions have no answer to keep).
        #expect(log.contains("from the cache"), "\(log)")

        kill(parent.pid, SIGTERM)
        let parentLog = parent.wait(timeout: .seconds(10))?.stderr ?? ""
        // The parent checked each again and dialled it; none was asked as evil.example.test:7007,
        // which its own check would have denied.
        #expect(parentLog.contains("requests: 7 allowed, 0 denied"), "\(parentLog)")
    }
}
