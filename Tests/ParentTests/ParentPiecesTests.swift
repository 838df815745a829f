import Addressing
import BootConfig
import Commands
import Foundation
import Logging
@testable import Parent
import Processes
import Relay
import Testing
import TestSupport

/// The parent half's pure pieces: the vsock-proxy allowlist file, nitro-cli's answer, the routes.
@Suite struct ParentPiecesTests {
    private func allowlist(_ text: String) throws -> VsockProxyAllowlist {
        try VsockProxyAllowlist.parse(text, source: "allow.yaml")
    }

    private func failure(_ text: String) -> String {
        do {
            _ = try VsockProxyAllowlist.parse(text, source: "allow.yaml")
            return "parsed"
        } catch {
            return error.description
        }
    }

    @Test func theAllowlistReadsFlowAndBlockEntriesCommentsAndQuotes() throws {
        let list = try allowlist("""
            # vsock-proxy's own example
            ---
            allowlist:
            - {address: kms.us-east-1.amazonaws.com, port: 443}
              # an indented comment
            -   { address: "kms-fips.us-east-1.amazonaws.com" , port: '443' }   # trailing comment
            - address: 10.0.0.5
              port: 2049
              - {address: "[2001:db8::1]", port: 8443}
            """)
        #expect(list.entries.map { "\($0.address) \($0.port) @\($0.line)" } == [
            "kms.us-east-1.amazonaws.com 443 @4", "kms-fips.us-east-1.amazonaws.com 443 @6", "10.0.0.5 2049 @7",
            "[2001:db8::1] 8443 @9",
        ])
        #expect(try allowlist("allowlist: []\n").entries.isEmpty)
        #expect(try allowlist("allowlist:\r\n- {address: a.example, port: 1}\r\n").entries.count == 1)
    }

    @Test func theAllowlistMatchesNamesAndAddressesByValueAndPortExactly() throws {
        let list = try allowlist("""
            allowlist:
            - {address: KMS.us-east-1.amazonaws.com., port: 443}
            - {address: "2001:db8:0::1", port: 8443}
            - {address: 10.0.0.5, port: 2049}
            """)
        let cases: [(String, UInt16, Bool)] = [
            ("kms.us-east-1.amazonaws.com", 443, true), ("kms.us-east-1.amazonaws.com.", 443, true),
            ("Kms.Us-East-1.AmazonAWS.com", 443, true), ("kms.us-east-1.amazonaws.com", 444, false),
            ("kms.us-west-2.amazonaws.com", 443, false), ("us-east-1.amazonaws.com", 443, false),
            ("2001:db8::1", 8443, true), ("2001:DB8:0:0::1", 8443, true), ("2001:db8::2", 8443, false),
            ("10.0.0.5", 2049, true), ("10.0.0.50", 2049, false), ("10.0.0.5", 443, false),
        ]
        for (host, port, expected) in cases {
            #expect(list.permits(HostPort(host: host, port: port)) == expected, "\(host):\(port)")
        }
    }

    @Test func aBrokenAllowlistNamesItsLine() {
        let cases: [(String, String)] = [
            ("", "allow.yaml: no \"allowlist:\" key"),
            ("allow_list:\n", "allow.yaml line 1: unknown key \"allow_list\": the file holds only \"allowlist\""),
            ("- {address: a, port: 1}\n", "allow.yaml line 1: expected \"allowlist:\" first"),
            ("allowlist:\n- {address: a, port: 1\n", "allow.yaml line 2: a {address: ..., port: ...} entry must end on its line"),
            ("allowlist:\n- {address: a}\n", "allow.yaml line 2: the entry for a has no \"port\""),
            ("allowlist:\n- {port: 443}\n", "allow.yaml line 2: the entry has no \"address\""),
            ("allowlist:\n- {address: a, port: 70000}\n", "allow.yaml line 2: port \"70000\" is not 1-65535"),
            ("allowlist:\n- {address: a, port: 0}\n", "allow.yaml line 2: port \"0\" is not 1-65535"),
            ("allowlist:\n- {address: a, port: 1, proto: tcp}\n", "allow.yaml line 2: unknown key \"proto\""),
            ("allowlist:\n- address: a\n  port: 1\n  port: 2\n", "allow.yaml line 4: \"port\" given twice"),
            ("allowlist:\n- address: a\n    port: 1\n", "allow.yaml line 3: expected an entry"),
            ("allowlist:\n\t- {address: a, port: 1}\n", "allow.yaml line 2: tabs are not allowed"),
            ("allowlist: kms\n", "allow.yaml line 1: write the entries on the lines after"),
            ("allowlist:\n- just text\n", "allow.yaml line 2: expected \"key: value\""),
        ]
        for (text, expected) in cases {
            #expect(failure(text).hasPrefix(expected), "\(text.debugDescription) -> \(failure(text))")
        }
    }

    @Test func nitroCLIsAnswerGivesTheCIDOfTheNamedRunningEnclave() throws {
        let answer = Array("""
            [{"EnclaveName": "a", "EnclaveCID": 16, "State": "RUNNING"},
             {"EnclaveName": "b", "EnclaveCID": 23, "State": "RUNNING", "Memory": 512},
             {"EnclaveName": "c", "EnclaveCID": 24, "State": "TERMINATING"}]
            """.utf8)
        #expect(try EnclaveLocator.cid(named: "b", in: answer) == 23)
        #expect(try EnclaveLocator.cid(named: "a", in: answer) == 16)
        let errors: [(String, [UInt8], String)] = [
            ("x", answer, "no enclave named x (running: a, b, c)"),
            ("x", Array("[]".utf8), "no enclave named x (no enclaves are running)"),
            ("c", answer, "enclave c is TERMINATING, not RUNNING"),
            ("a", Array(#"[{"EnclaveName": "a", "EnclaveCID": 2}]"#.utf8), "enclave a has no valid EnclaveCID"),
            ("a", Array(#"{"EnclaveName": "a"}"#.utf8), "nitro-cli describe-enclaves printed a object, not an array"),
            ("a", Array("Error: permission denied".utf8), "nitro-cli describe-enclaves printed no JSON"),
        ]
        for (name, json, expected) in errors {
            #expect(throws: (any Error).self) { try EnclaveLocator.cid(named: name, in: json) }
            do {
                _ = try EnclaveLocator.cid(named: name, in: json)
            } catch {
                #expect("\(error)".hasPrefix(expected), "\(error)")
            }
        }
    }

    /// --exit-with-enclave's nitro-cli watch, one look at a time against a describe-enclaves
    /// that reads a file: the enclave is gone only once it was seen RUNNING and then is not
    /// listed, or listed in another state; a nitro-cli that fails proves nothing.
    @Test func theStateWatchCallsAnEnclaveGoneOnlyAfterSeeingItRun() throws {
        let scratch = try TemporaryDirectory()
        let listing = scratch.path + "/listing"
        func list(_ text: String) throws { try text.write(toFile: listing, atomically: true, encoding: .utf8) }
        let running = #"[{"EnclaveName": "demo", "EnclaveCID": 19, "State": "RUNNING"}]"#
        let watch = EnclaveStateWatch(locator: EnclaveLocator(name: "demo", command: ["/bin/sh", "-c", "cat \(listing) || exit 3"]),
                                      logger: Logger(label: "test"))
        try list("[]")
        watch.look()
        #expect(watch.gone == nil, "not started yet is not gone")
        try list(running)
        watch.look()
        #expect(watch.gone == nil)
        try FileManager.default.removeItem(atPath: listing)
        watch.look()
        #expect(watch.gone == nil, "a failing nitro-cli is not an answer")
        try list(#"[{"EnclaveName": "other", "EnclaveCID": 20, "State": "RUNNING"}]"#)
        watch.look()
        #expect(watch.gone == "nitro-cli describe-enclaves: no enclave named demo (running: other)")

        let terminating = EnclaveStateWatch(locator: EnclaveLocator(name: "demo", command: ["/bin/sh", "-c", "cat \(listing)"]),
                                            logger: Logger(label: "test"))
        try list(running)
        terminating.look()
        try list(#"[{"EnclaveName": "demo", "EnclaveCID": 19, "State": "TERMINATING"}]"#)
        terminating.look()
        #expect(terminating.gone == "nitro-cli describe-enclaves: enclave demo is TERMINATING, not RUNNING")
    }

    @Test func theLocatorRunsNitroCLIOnceForABurstAndReportsItsFailure() throws {
        let scratch = try TemporaryDirectory()
        let counter = scratch.path + "/calls"
        let script = "echo x >> \(counter); echo '[{\"EnclaveName\": \"demo\", \"EnclaveCID\": 19, \"State\": \"RUNNING\"}]'"
        let locator = EnclaveLocator(name: "demo", command: ["/bin/sh", "-c", script])
        for _ in 0..<5 { #expect(try locator.cid() == 19) }
        #expect(try String(contentsOfFile: counter, encoding: .utf8) == "x\n")
        let failing = EnclaveLocator(name: "demo", command: ["/bin/sh", "-c", "echo 'Error: no permission' >&2; exit 3"])
        #expect(throws: (any Error).self) { try failing.cid() }
        do { _ = try failing.cid() } catch {
            #expect("\(error)" == "/bin/sh -c echo 'Error: no permission' >&2; exit 3 failed (exit status 3): Error: no permission")
        }
        // A nitro-cli that hangs is killed at the deadline; the lookup fails instead of waiting.
        let hanging = EnclaveLocator(name: "demo", command: ["/bin/sh", "-c", "echo partial; exec sleep 30"], timeout: .milliseconds(500))
        let started = ContinuousClock.now
        do { _ = try hanging.cid(); Issue.record("a hanging nitro-cli answered") } catch {
            #expect("\(error)" == "cannot run /bin/sh -c echo partial; exec sleep 30: it did not finish within 500 ms (killed)", "\(error)")
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        let missing = EnclaveLocator(name: "demo", command: ["/nonexistent/nitro-cli", "describe-enclaves"])
        do { _ = try missing.cid(); Issue.record("ran a missing program") } catch {
            #expect("\(error)" == "cannot run /nonexistent/nitro-cli describe-enclaves: No such file or directory")
        }
    }

    @Test func parentRoutesMirrorTheEnclaveRoutes() throws {
        let config = try BootConfigLoader.decode(Array("""
            {"version": 1,
             "hosts": [{"names": ["kms.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000, "max_connections": 7},
                       {"names": ["db.example"], "address": "127.0.0.3", "port": 5432, "vsock_port": 8001, "remote": "10.0.0.9:6432",
                        "connect_timeout_ms": 250}],
             "ingress": [{"vsock_port": 5000, "port": 8080, "host_port": 80}, {"vsock_port": 5001, "port": 9090}]}
            """.utf8), commandRequired: false)
        let routes = try RelayService.parentRoutes(for: config, options: .init(enclave: .fixed(18), ingressBindAddress: "10.1.2.3", family: .ipv4))
        #expect(routes.map(\.description) == [
            "kms.example vsock:any:8000 -> tcp:kms.example:443 (IPv4 only)",
            "db.example vsock:any:8001 -> tcp:10.0.0.9:6432 (IPv4 only)",
            "ingress 80 tcp:10.1.2.3:80 -> vsock:18:5000",
            "ingress 9090 tcp:10.1.2.3:9090 -> vsock:18:5001",
        ])
        #expect(routes.map(\.maxConnections) == [7, 0, 0, 0])
        #expect(routes[1].connectTimeout == .milliseconds(250))
        #expect(throws: (any Error).self) { try RelayService.parentRoutes(for: config, options: .init(enclave: nil)) }
    }

    @Test func theParentHalfNeedsNoCommandButTheEnclaveDoes() throws {
        let bytes = Array(#"{"version": 1, "hosts": [{"names": ["a.example"], "address": "127.0.0.2", "port": 1, "vsock_port": 8000}]}"#.utf8)
        #expect(try BootConfigLoader.decode(bytes, commandRequired: false).hosts.count == 1)
        #expect(throws: ConfigError.self) { try BootConfigLoader.decode(bytes) }
    }

    /// One rule for serve and stop: --enclave-cid, else --enclave-name, else CID 16 under the
    /// emulation only; on Nitro a command that needs the enclave is told to name it.
    @Test func whichEnclaveTheParentCommandsMean() throws {
        func parse(_ words: [String]) throws -> EnclaveOptions {
            try EnclaveOptions(CommandLineParser.read(words[...], spec: CommandSpec(name: "test", abstract: "", options: EnclaveOptions.options)))
        }
        #expect(try parse([]).enclave(emulated: true) == .cid(16))
        #expect(try parse([]).enclave(emulated: false) == nil)
        #expect(try parse(["--enclave-cid", "21"]).enclave(emulated: true) == .cid(21))
        #expect(try parse(["--enclave-name", "prod"]).enclave(emulated: false) == .named("prod"))
        #expect(throws: (any Error).self) { try parse(["--enclave-cid", "21", "--enclave-name", "prod"]) }
    }
}
