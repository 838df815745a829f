import Foundation
import Testing
import TestSupport

/// A denied name fails at once for the resolvers real apps use, whatever nameservers and options
/// the image's resolv.conf ships. The stub answers REFUSED, which glibc, Go, c-ares and Java
/// take as "try the next server"; the image's own servers are unreachable from an enclave (with
/// transparent egress their packets only loop back), so each used to cost a 5 s timeout. Every
/// resolver here is the real one, nobody's stand-in: glibc's getaddrinfo (through Python's
/// socket module, a thin wrapper), Go's pure resolver, Node's dns.lookup (getaddrinfo on its
/// thread pool) and dns.resolve4 (c-ares, which reads resolv.conf itself), Java's InetAddress.
@Suite(.serialized) struct ResolverSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    /// Each program looks up every name given and prints `NAME MILLISECONDS RESULT` a line,
    /// RESULT being the addresses or `error: ...`, timing the lookup alone (not the start-up).
    static let glibc = """
        import socket, sys, time
        for name in sys.argv[1:]:
            start = time.monotonic()
            try:
                result = ",".join(sorted({a[4][0] for a in socket.getaddrinfo(name, 80)}))
            except socket.gaierror as e:
                result = "error: gaierror %d" % e.errno
            print(name, "%.1f" % ((time.monotonic() - start) * 1000), result, flush=True)
        """

    static let go = """
        package main

        import (
        \t"context"
        \t"fmt"
        \t"net"
        \t"os"
        \t"strings"
        \t"time"
        )

        func main() {
        \tresolver := &net.Resolver{PreferGo: true}
        \tfor _, name := range os.Args[1:] {
        \t\tstart := time.Now()
        \t\taddresses, err := resolver.LookupHost(context.Background(), name)
        \t\tmilliseconds := float64(time.Since(start).Microseconds()) / 1000
        \t\tif err != nil {
        \t\t\tfmt.Printf("%s %.1f error: %v\\n", name, milliseconds, err)
        \t\t} else {
        \t\t\tfmt.Printf("%s %.1f %s\\n", name, milliseconds, strings.Join(addresses, ","))
        \t\t}
        \t}
        }
        """

    static let node = """
        const dns = require('dns');
        const [how, ...names] = process.argv.slice(2);
        (async () => {
          for (const name of names) {
            const start = process.hrtime.bigint();
            let result;
            try {
              result = how === 'lookup'
                ? (await dns.promises.lookup(name, { all: true })).map(a => a.address).join(',')
                : (await dns.promises.resolve4(name)).join(',');
            } catch (e) {
              result = 'error: ' + e.code;
            }
            console.log(name, (Number(process.hrtime.bigint() - start) / 1e6).toFixed(1), result);
          }
        })();
        """

    static let java = """
        import java.net.InetAddress;
        import java.net.UnknownHostException;

        public class Lookup {
            public static void main(String[] names) {
                for (String name : names) {
                    long start = System.nanoTime();
                    String result;
                    try {
                        StringBuilder addresses = new StringBuilder();
                        for (InetAddress address : InetAddress.getAllByName(name)) {
                            if (addresses.length() > 0) addresses.append(',');
                            addresses.append(address.getHostAddress());
                        }
                        result = addresses.toString();
                    } catch (UnknownHostException e) {
                        result = "error: UnknownHostException";
                    }
                    System.out.printf("%s %.1f %s%n", name, (System.nanoTime() - start) / 1e6, result);
                }
            }
        }
        """

    /// Builds the Go and Java programs (Go's build cache lives outside the clone, so a second
    /// run compiles only this file); returns the app's shell commands, one per resolver.
    private func resolvers() throws -> [(name: String, command: String)] {
        let directory = scratch.path + "/resolvers"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let cache = "/var/cache/enclave-init-tests"
        let environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": cache, "GOCACHE": cache + "/go-build",
                           "GOPATH": cache + "/go", "CGO_ENABLED": "0"]
        try (Self.go).write(toFile: directory + "/lookup.go", atomically: true, encoding: .utf8)
        let go = try ProcessRunner.run("/usr/bin/env", ["go", "build", "-o", directory + "/lookup-go", directory + "/lookup.go"], environment: environment)
        try #require(go.status == 0, "go build (golang-go, installed by scripts/install-deps): \(go.stderr)")
        try (Self.java).write(toFile: directory + "/Lookup.java", atomically: true, encoding: .utf8)
        let javac = try ProcessRunner.run("/usr/bin/env", ["javac", "-d", directory, directory + "/Lookup.java"], environment: environment)
        try #require(javac.status == 0, "javac (a JDK, installed by scripts/install-deps): \(javac.stderr)")
        let glibc = try scratch.write("resolvers/lookup.py", Self.glibc)
        let node = try scratch.write("resolvers/lookup.js", Self.node)
        return [
            ("glibc getaddrinfo", "python3 \(glibc)"),
            ("Go (netdns=go)", "GODEBUG=netdns=go \(directory)/lookup-go"),
            ("Node dns.lookup", "node \(node) lookup"),
            ("Node dns.resolve4 (c-ares)", "node \(node) resolve4"),
            ("Java InetAddress", "java -cp \(directory) Lookup"),
        ]
    }

    /// One resolver's lines: name -> (milliseconds, result).
    private func parse(_ text: String) -> [String: (milliseconds: Double, result: String)] {
        var found: [String: (Double, String)] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 2).map(String.init)
            guard fields.count == 3, let milliseconds = Double(fields[1]) else { continue }
            found[fields[0]] = (milliseconds, fields[2])
        }
        return found
    }

    @Test func aDeniedNameFailsAtOnceForEveryResolverWhateverTheImagesResolvConf() throws {
        let out = scratch.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let config = try scratch.write("boot.json", """
            {"version": 1,
             "egress": {"port": 3128, "vsock_port": 8001, "transparent": true,
                        "allow": ["**.example.test"], "deny": ["denied.example.test"]},
             "dns": {"vsock_port": 8053}}
            """)
        // As an image built elsewhere ships it: servers nothing in an enclave answers, glibc's
        // default timeout and attempts written out.
        let imageResolvConf = try scratch.write("image-resolv.conf", "nameserver 192.0.2.1\nnameserver 192.0.2.2\noptions edns0 timeout:5 attempts:2\n")
        let hosts = TestHosts(records: [("api.example.test", "198.18.0.10"), ("denied.example.test", "198.18.0.11")], echoes: [])
        let parent = try hosts.startParent(config: config, vsock: vsock, scratch: scratch)
        defer { kill(parent.pid, SIGTERM); _ = parent.wait(timeout: .seconds(10)) }
        let resolvers = try resolvers()
        let names = "api.example.test denied.example.test nothere.example.test"
        let app = resolvers.enumerated().map { "\($0.element.command) \(names) > \(out)/\($0.offset) 2>&1\n" }.joined()
        let enclave = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", app], environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock],
                                        resolvConf: imageResolvConf)
        let result = enclave.wait(timeout: .seconds(120))
        Sandbox.expectEnded(result, .pid1, withCode: 0)
        let log = result?.stderr ?? ""

        var figures: [String] = []
        for (index, resolver) in resolvers.enumerated() {
            let output = scratch.text("out/\(index)")
            let lines = parse(output)
            let allowed = lines["api.example.test"], denied = lines["denied.example.test"], unknown = lines["nothere.example.test"]
            // An allowed name resolves as before.
            #expect(allowed?.result == "198.18.0.10", "\(resolver.name): \(output)\n\(log)")
            // A denied one fails, well under a second.
            #expect(denied?.result.hasPrefix("error: ") == true && (denied?.milliseconds ?? .infinity) < 1000, "\(resolver.name): \(output)")
            // An unknown one is NXDOMAIN, as before, and just as fast.
            #expect(unknown?.result.hasPrefix("error: ") == true && (unknown?.milliseconds ?? .infinity) < 1000, "\(resolver.name): \(output)")
            figures.append("\(resolver.name): denied \(denied?.milliseconds ?? -1) ms (\(denied?.result ?? "?")), "
                           + "unknown \(unknown?.milliseconds ?? -1) ms (\(unknown?.result ?? "?"))")
        }
        // NXDOMAIN stays "no such name" (not a temporary failure) where the API tells them apart.
        #expect(parse(scratch.text("out/0"))["nothere.example.test"]?.result == "error: gaierror -2")
        #expect(parse(scratch.text("out/1"))["nothere.example.test"]?.result.hasSuffix("no such host") == true)
        #expect(parse(scratch.text("out/2"))["nothere.example.test"]?.result == "error: ENOTFOUND")
        #expect(parse(scratch.text("out/3"))["nothere.example.test"]?.result == "error: ENOTFOUND")
        print("resolver figures (a denied and an unknown name, the image's resolv.conf naming 192.0.2.1 and 192.0.2.2):\n  "
              + figures.joined(separator: "\n  "))
    }
}
