import Addressing
import BootConfig
import CTestSupport
import Foundation
import LinuxNet
import Testing
import TestSupport

/// The network step in fresh network namespaces: lo over netlink, aliases, hostname, the hosts
/// block — seen from the app, and run twice.
@Suite(.serialized) struct NetworkSandboxTests {
    let scratch: TemporaryDirectory
    init() throws { scratch = try TemporaryDirectory(base: Sandbox.scratchBase) }

    struct ProbeReport: Decodable {
        var link: String
        var addr: String
        var hostname: String
        var resolve: [String: String?]
        var connect: [String: Bool]
    }

    private func probe(_ name: String) throws -> ProbeReport {
        try JSONDecoder().decode(ProbeReport.self, from: Data(contentsOf: URL(fileURLWithPath: scratch.path + "/" + name)))
    }

    private func inetAddresses(_ addr: String) -> Set<String> {
        Set(addr.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard let index = fields.firstIndex(where: { $0 == "inet" || $0 == "inet6" }), index + 1 < fields.count else { return nil }
            return String(fields[index + 1])
        })
    }

    @Test func asPID1TheAppSeesLoUpWithEveryAliasTheHostnameAndTheHostsBlock() throws {
        let probeScript = try scratch.write("probe.py", networkProbe)
        let aliases = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.200"]
        let config = try scratch.write("boot.json", #"""
            {"version": 1, "hostname": "enclave",
             "network": {"loopback": ["127.0.0.1/8", "127.0.0.2", "127.0.0.3/32", "127.0.0.200"]}}
            """#)
        let hosts = try Sandbox.privateHostsFile()
        let before = scratch.path + "/before"
        // A copy outside /tmp, which PID 1 covers with a fresh tmpfs.
        let binary = scratch.path + "/enclave-init"
        try Sandbox.copyExecutable(try Sandbox.staticBinary(), to: binary)
        // The app probes, boots enclave-init a second time in the same namespaces, probes again.
        let app = """
            python3 \(probeScript) \(scratch.path)/first.json \(aliases.joined(separator: ",")) localhost,enclave
            cp /etc/hosts \(scratch.path)/hosts.first
            \(binary) --config \(config) -- /bin/true 2> \(scratch.path)/second-boot.log
            python3 \(probeScript) \(scratch.path)/second.json \(aliases.joined(separator: ",")) localhost,enclave
            """
        let process = try Sandbox.start(.pid1, ["--config", config, "--", "/bin/sh", "-c", app], hostsFile: hosts,
                                        prelude: "ip -o link show lo > \(before); ip -o addr show lo >> \(before)")
        let result = process.wait(timeout: .seconds(20))
        Sandbox.expectEnded(result, .pid1, withCode: 0)

        // Before enclave-init: lo is down and has no address at all.
        let beforeText = try String(contentsOfFile: before, encoding: .utf8)
        #expect(beforeText.contains("<LOOPBACK>") && beforeText.contains("state DOWN"), "\(beforeText)")
        #expect(!beforeText.contains("inet"), "\(beforeText)")

        let first = try probe("first.json")
        #expect(first.link.contains("LOOPBACK,UP"), "\(first.link)")
        #expect(inetAddresses(first.addr) == ["127.0.0.1/8", "127.0.0.2/32", "127.0.0.3/32", "127.0.0.200/32", "::1/128"], "\(first.addr)")
        #expect(first.hostname == "enclave")
        #expect(first.resolve == ["localhost": "127.0.0.1", "enclave": "127.0.1.1"]) // IPv4 lookups (getent ahostsv4)
        #expect(first.connect == Dictionary(uniqueKeysWithValues: aliases.map { ($0, true) }), "\(first.connect)")
        #expect(result?.stderr.contains("network: lo up, 5 addresses (127.0.0.1/8 127.0.0.2/32 127.0.0.3/32 127.0.0.200/32 ::1/128; 3 new), hostname enclave, /etc/hosts: 1 names (rewritten in place: it is a mount point)") == true, "\(result?.stderr ?? "")")

        // The second boot in the same namespaces changes nothing.
        let second = try probe("second.json")
        #expect(second.addr == first.addr)
        #expect(second.link == first.link)
        #expect(try String(contentsOfFile: hosts, encoding: .utf8) == String(contentsOfFile: scratch.path + "/hosts.first", encoding: .utf8))
        let secondLog = try String(contentsOfFile: scratch.path + "/second-boot.log", encoding: .utf8)
        #expect(secondLog.contains("0 new), hostname enclave, /etc/hosts: 1 names (unchanged)"), "\(secondLog)")
    }

    /// Host mappings: from the app, every name resolves to its alias and every alias takes a
    /// listener (the relay already listens on port 443/2049/8443; the probe uses other ports).
    @Test func fromTheAppEveryMappedNameResolvesToItsAlias() throws {
        let probeScript = try scratch.write("probe.py", networkProbe)
        let config = try scratch.write("boot.json", #"""
            {"version": 1, "hosts": [
              {"names": ["kms.us-east-1.amazonaws.com", "kms"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000},
              {"names": ["secretsmanager.us-east-1.amazonaws.com"], "address": "127.0.0.3", "port": 443, "vsock_port": 8001},
              {"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000},
              {"names": ["api.internal"], "address": "127.0.0.2", "port": 8443, "vsock_port": 8002}]}
            """#)
        let hosts = try Sandbox.privateHostsFile()
        let names = ["kms.us-east-1.amazonaws.com", "kms", "secretsmanager.us-east-1.amazonaws.com", "nfs.internal", "api.internal", "localhost"]
        let process = try Sandbox.start(.pid1, ["--config", config, "--", "/usr/bin/python3", probeScript, scratch.path + "/probe.json",
                                                "127.0.0.2,127.0.0.3,127.0.0.200", names.joined(separator: ",")], hostsFile: hosts)
        Sandbox.expectEnded(process.wait(timeout: .seconds(20)), .pid1, withCode: 0)
        let report = try probe("probe.json")
        #expect(report.resolve == ["kms.us-east-1.amazonaws.com": "127.0.0.2", "kms": "127.0.0.2", "secretsmanager.us-east-1.amazonaws.com": "127.0.0.3",
                                   "nfs.internal": "127.0.0.200", "api.internal": "127.0.0.2", "localhost": "127.0.0.1"], "\(report.resolve)")
        #expect(report.connect == ["127.0.0.2": true, "127.0.0.3": true, "127.0.0.200": true])
        #expect(report.link.contains("LOOPBACK,UP"))
        #expect(inetAddresses(report.addr) == ["127.0.0.1/8", "127.0.0.2/32", "127.0.0.3/32", "127.0.0.200/32", "::1/128"], "\(report.addr)")
        let file = try String(contentsOfFile: hosts, encoding: .utf8)
        #expect(file.contains("127.0.0.2 kms.us-east-1.amazonaws.com kms api.internal\n127.0.0.3 secretsmanager.us-east-1.amazonaws.com\n127.0.0.200 nfs.internal\n# END enclave-init\n127.0.0.1 localhost\n"), "\(file)")
    }

    /// A kernel refusal through the binary: without CAP_NET_ADMIN netlink says EPERM.
    @Test func aNetlinkRefusalFailsTheBootWith70AndSaysWhy() throws {
        let config = try scratch.write("boot.json", #"{"version": 1}"#)
        chmod(scratch.path, 0o755)
        chmod(config, 0o644)
        let process = try Sandbox.start(.subreaper, ["--config", config, "--", "/bin/true"],
                                        prelude: "set -- setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \"$@\"")
        let result = process.wait(timeout: .seconds(10))
        Sandbox.expectEnded(result, .subreaper, withCode: 70)
        #expect(result?.stderr.contains("boot failed at step 5/10 network: netlink: bringing lo up: Operation not permitted (libnl error 28)") == true, "\(result?.stderr ?? "")")
        #expect(result?.stderr.contains("app: started") == false)
    }

    /// An address the kernel refuses, injected past validation at the library level, in a network
    /// namespace of this test thread's own: the error names the address and the kernel's reason.
    @Test func anAddressTheKernelRefusesIsNamedInTheError() throws {
        try #require(getuid() == 0, "needs root for a network namespace")
        let error = OnOwnNetworkNamespace.run {
            _ = try NetworkSetup.configureLoopback([.ipv4(IPv4Interface(address: IPv4Address("127.0.0.5")!, prefixLength: 40))])
        }
        #expect(error.map { "\($0)" } == "netlink: adding 127.0.0.5/40 to lo: Invalid input data or parameter (libnl error 7)")
    }
}

/// Runs a body on a new thread that first moves into a fresh network namespace (namespaces are
/// per thread), so the test process's own network is never touched. Returns what it threw.
enum OnOwnNetworkNamespace {
    private final class Outcome: @unchecked Sendable {
        var error: (any Error)?
    }

    static func run(_ body: @escaping @Sendable () throws -> Void) -> (any Error)? {
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            if ctest_unshare_network() != 0 {
                outcome.error = POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM)
            } else {
                do { try body() } catch { outcome.error = error }
            }
            done.signal()
        }
        thread.start()
        done.wait()
        return outcome.error
    }
}
