import Foundation

/// Invalid boot JSON documents, each with the JSON path its first error must name and a piece
/// of the message. Shared by the library tests and the command-line tests (exit status 78).
public struct InvalidConfigCase: Sendable, CustomStringConvertible {
    public var name: String
    public var json: String
    public var path: String
    public var message: String
    public var description: String { name }
}

private func invalid(_ name: String, _ json: String, path: String, _ message: String) -> InvalidConfigCase {
    InvalidConfigCase(name: name, json: json, path: path, message: message)
}

/// `{"version": 1, "app": {"command": ["/bin/true"]}, <extra>}`: a valid base plus one section.
public func withBase(_ extra: String) -> String {
    #"{"version": 1, "app": {"command": ["/bin/true"]}\#(extra.isEmpty ? "" : ", " + extra)}"#
}

private let kmsHost = #"{"names": ["kms.us-east-1.amazonaws.com"], "address": "127.0.0.9", "port": 443, "vsock_port": 8009}"#

/// The valid base with a KMS mapping and `kms`, plus these `secrets[]` entries.
private func withSecrets(_ entries: String) -> String {
    withBase(#""hosts": [\#(kmsHost)], "kms": {"region": "us-east-1", "credentials": {"vsock_port": 8010}}, "secrets": [\#(entries)]"#)
}

private let host = #"{"names": ["a.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000}"#

public let invalidConfigs: [InvalidConfigCase] = [
    invalid("hardening demand", withBase(#""hardening": {"clock_source": "enforce"}"#), path: "hardening.clock_source", "\"report\" (the default) or \"require\""),
    invalid("hardening unknown check", withBase(#""hardening": {"secure_boot": "require"}"#), path: "hardening.secure_boot", "unknown key"),
    invalid("measure pcr 15", withBase(#""measure": {"pcr": 15}"#), path: "measure.pcr", "PCRs 0-15 are the platform's"),

    // The attested ingress (ingress[].tls).
    invalid("tls without names", withBase(#""ingress": [{"vsock_port": 5443, "port": 8080, "tls": {}}]"#), path: "ingress[0].tls.names", "required key \"names\" is missing"),
    invalid("tls with no name", withBase(#""ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": []}}]"#), path: "ingress[0].tls.names", "at least one name"),
    invalid("tls name not DNS", withBase(#""ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": ["app_1.example"]}}]"#), path: "ingress[0].tls.names[0]", "has an invalid label \"app_1\""),
    invalid("tls name an address", withBase(#""ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": ["10.0.0.1"]}}]"#), path: "ingress[0].tls.names[0]", "is an IP address"),
    invalid("tls certificate source", withBase(#""ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": ["a.example"], "certificate": "letsencrypt"}}]"#), path: "ingress[0].tls.certificate", "\"self-signed\" (the default) or \"acme\""),
    invalid("tls alpn reserved", withBase(#""ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": ["a.example"], "alpn": ["acme-tls/1"]}}]"#), path: "ingress[0].tls.alpn[0]", "enclave-init's own protocol"),
    invalid("tls on the attestation endpoint", withBase(#""attestation": {"port": 7777}, "ingress": [{"vsock_port": 5443, "attestation": true, "tls": {"names": ["a.example"]}}]"#), path: "ingress[0].tls", "takes no TLS of its own"),
    invalid("acme without directory", withBase(#""ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": ["a.example"], "certificate": "acme", "acme": {}}}]"#), path: "ingress[0].tls.acme.directory", "required key \"directory\" is missing"),
    invalid("acme directory over http", withBase(#""ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": ["a.example"], "certificate": "acme", "acme": {"directory": "http://ca.example/dir"}}}]"#), path: "ingress[0].tls.acme.directory", "is not an https URL"),
    invalid("acme wildcard", withBase(#""hosts": [{"names": ["ca.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000}], "ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": ["*.a.example"], "certificate": "acme", "acme": {"directory": "https://ca.example/dir"}}}]"#), path: "ingress[0].tls.names[0]", "a wildcard needs the DNS-01 challenge"),
    invalid("acme http-01", withBase(#""hosts": [{"names": ["ca.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000}], "ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": ["a.example"], "certificate": "acme", "acme": {"directory": "https://ca.example/dir", "challenge": "http-01"}}}]"#), path: "ingress[0].tls.acme.challenge", "HTTP-01 is not supported"),
    invalid("acme unreachable", withBase(#""ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": ["a.example"], "certificate": "acme", "acme": {"directory": "https://ca.example:14000/dir"}}}]"#), path: "ingress[0].tls.acme.directory", "nothing carries ca.example:14000 out of the enclave"),
    invalid("acme contact not mailto", withBase(#""hosts": [{"names": ["ca.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000}], "ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": ["a.example"], "certificate": "acme", "acme": {"directory": "https://ca.example/dir", "contact": ["ops@example.com"]}}}]"#), path: "ingress[0].tls.acme.contact[0]", "is not a mailto: URL"),
    invalid("acme set but self-signed", withBase(#""ingress": [{"vsock_port": 5443, "port": 8080, "tls": {"names": ["a.example"], "acme": {"directory": "https://ca.example/dir"}}}]"#), path: "ingress[0].tls.acme", "the certificate is self-signed"),

    // Malformed JSON, with line and column.
    invalid("empty file", "", path: "(document)", "line 1, column 1"),
    invalid("trailing comma", "{\n  \"version\": 1,\n}", path: "(document)", "line 2, column 15): malformed JSON: a trailing comma"),
    invalid("unquoted key", "{version: 1}", path: "(document)", "line 1, column 2"),
    invalid("single quotes", "{'version': 1}", path: "(document)", "a single quote: JSON puts every key and string in double quotes"),
    invalid("garbage after document", #"{"version": 1} x"#, path: "(document)", "after the end of the document"),
    invalid("duplicate key", "{\"version\": 1,\n \"version\": 1}", path: "(document)", "duplicate key \"version\" (first at line 1, column 2)"),
    invalid("unterminated string", #"{"version": 1, "hostname": "abc"#, path: "(document)", "unterminated string"),
    invalid("leading zero", #"{"version": 01}"#, path: "(document)", "leading zeros"),
    invalid("root is an array", "[1]", path: "(document)", "expected an object, found array"),

    // Version.
    invalid("version missing", #"{"app": {"command": ["/bin/true"]}}"#, path: "version", "required key \"version\" is missing"),
    invalid("version 2", #"{"version": 2, "app": {"command": ["/bin/true"]}}"#, path: "version", "unsupported version 2"),
    invalid("version as string", #"{"version": "1", "app": {"command": ["/bin/true"]}}"#, path: "version", "expected an integer"),

    // Unknown keys and wrong types.
    invalid("unknown top-level key", withBase(#""hostnme": "x""#), path: "hostnme", "did you mean \"hostname\""),
    invalid("unknown nested key", withBase(#""shutdown": {"grace": 3}"#), path: "shutdown.grace", "unknown key \"grace\""),
    invalid("hosts not an array", withBase(#""hosts": {}"#), path: "hosts", "expected an array, found object"),
    invalid("port as string", withBase(#""hosts": [{"names": ["a.example"], "address": "127.0.0.2", "port": "443", "vsock_port": 8000}]"#), path: "hosts[0].port", "expected an integer"),
    invalid("heartbeat enabled yes", withBase(#""heartbeat": {"enabled": "yes"}"#), path: "heartbeat.enabled", "true, false or \"auto\""),

    // Ranges.
    invalid("port 70000", withBase(#""hosts": [{"names": ["a.example"], "address": "127.0.0.2", "port": 70000, "vsock_port": 8000}]"#), path: "hosts[0].port", "port 70000 is out of range 1-65535"),
    invalid("port 0", withBase(#""ingress": [{"vsock_port": 5000, "port": 0}]"#), path: "ingress[0].port", "port 0 is out of range 1-65535"),
    invalid("fractional port", withBase(#""egress": {"port": 3128.5, "vsock_port": 8001}"#), path: "egress.port", "whole number"),
    invalid("vsock port 0", withBase(#""logs": {"vsock_port": 0}"#), path: "logs.vsock_port", "vsock port 0 is out of range 1-4294967294"),
    invalid("vsock port 2^32", withBase(#""status": {"vsock_port": 4294967296}"#), path: "status.vsock_port", "out of range 1-4294967294"),
    invalid("parent CID 0", withBase(#""parent_cid": 0"#), path: "parent_cid", "CID 0 is out of range"),
    invalid("parent CID any", withBase(#""parent_cid": 4294967295"#), path: "parent_cid", "CID 4294967295 is out of range"),
    invalid("negative grace", withBase(#""shutdown": {"grace_seconds": -1}"#), path: "shutdown.grace_seconds", "out of range 0-3600"),
    invalid("tiny log buffer", withBase(#""logs": {"vsock_port": 9100, "buffer_bytes": 10}"#), path: "logs.buffer_bytes", "out of range"),

    // Addresses.
    invalid("alias outside loopback", withBase(#""hosts": [{"names": ["a.example"], "address": "10.0.0.2", "port": 443, "vsock_port": 8000}]"#), path: "hosts[0].address", "outside 127.0.0.0/8"),
    invalid("alias not an address", withBase(#""hosts": [{"names": ["a.example"], "address": "127.1", "port": 443, "vsock_port": 8000}]"#), path: "hosts[0].address", "not an IPv4 address"),
    invalid("loopback outside 127/8", withBase(#""network": {"loopback": ["192.168.1.1/24"]}"#), path: "network.loopback[0]", "outside 127.0.0.0/8"),
    invalid("loopback bad prefix", withBase(#""network": {"loopback": ["127.0.0.1/33"]}"#), path: "network.loopback[0]", "not an IPv4 address with an optional prefix"),

    // Duplicate listeners and vsock ports.
    invalid("same address and port twice", withBase(#""hosts": [\#(host), {"names": ["b.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8001}]"#), path: "hosts[1].port", "listener 127.0.0.2:443 is already used by hosts[0].port"),
    invalid("egress on a mapped socket", withBase(#""hosts": [{"names": ["a.example"], "address": "127.0.0.1", "port": 3128, "vsock_port": 8000}], "egress": {"port": 3128, "vsock_port": 8001}"#), path: "egress.port", "already used by hosts[0].port"),
    invalid("same parent vsock port", withBase(#""hosts": [\#(host), {"names": ["b.example"], "address": "127.0.0.3", "port": 443, "vsock_port": 8000}]"#), path: "hosts[1].vsock_port", "parent vsock port 8000 is already used by hosts[0].vsock_port"),
    invalid("logs on a mapping's vsock port", withBase(#""hosts": [\#(host)], "logs": {"vsock_port": 8000}"#), path: "logs.vsock_port", "already used by hosts[0].vsock_port"),
    invalid("mapping on the heartbeat port", withBase(#""hosts": [{"names": ["a.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 9000}]"#), path: "hosts[0].vsock_port", "already used by heartbeat.port"),
    invalid("same ingress vsock port", withBase(#""ingress": [{"vsock_port": 5000, "port": 8080}, {"vsock_port": 5000, "port": 8081}]"#), path: "ingress[1].vsock_port", "enclave vsock port 5000 is already used"),
    invalid("same ingress host port", withBase(#""ingress": [{"vsock_port": 5000, "port": 8080}, {"vsock_port": 5001, "port": 8080}]"#), path: "ingress[1].host_port", "parent TCP port 8080 is already used"),
    invalid("mapping on the app's ingress port", withBase(#""hosts": [{"names": ["a.example"], "address": "127.0.0.1", "port": 8080, "vsock_port": 8000}], "ingress": [{"vsock_port": 5000, "port": 8080}]"#), path: "ingress[0].port", "already used by hosts[0].port"),

    // remote and names.
    invalid("remote without port", withBase(#""hosts": [{"names": ["a.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000, "remote": "kms.example"}]"#), path: "hosts[0].remote", "not host:port"),
    invalid("remote IPv6 without brackets", withBase(#""hosts": [{"names": ["a.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000, "remote": "2001:db8::1:443"}]"#), path: "hosts[0].remote", "brackets"),
    invalid("remote port 0", withBase(#""hosts": [{"names": ["a.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000, "remote": "a.example:0"}]"#), path: "hosts[0].remote", "not a port 1-65535"),
    invalid("nothing to dial", withBase(#""hosts": [{"address": "127.0.0.2", "port": 443, "vsock_port": 8000}]"#), path: "hosts[0].remote", "nothing to dial"),
    invalid("name with underscore", withBase(#""hosts": [{"names": ["my_host.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000}]"#), path: "hosts[0].names[0]", "invalid label \"my_host\""),
    invalid("name with empty label", withBase(#""hosts": [{"names": ["a..example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000}]"#), path: "hosts[0].names[0]", "empty label"),
    invalid("name on two addresses", withBase(#""hosts": [\#(host), {"names": ["a.example"], "address": "127.0.0.3", "port": 443, "vsock_port": 8001}]"#), path: "hosts[1].names[0]", "already maps to 127.0.0.2"),
    invalid("invalid hostname", withBase(#""hostname": "-enclave""#), path: "hostname", "invalid label"),

    // Egress patterns.
    invalid("wildcard inside a label", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "allow": ["kms*.amazonaws.com"]}"#), path: "egress.allow[0]", "must stand alone as a whole label"),
    invalid("triple star", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "deny": ["***.example.com"]}"#), path: "egress.deny[0]", "wildcard inside the label"),
    invalid("egress bad port range", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "allow": ["a.example:500-400"]}"#), path: "egress.allow[0]", "invalid port or port range"),
    invalid("egress bad CIDR", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "allow": ["10.0.0.0/40"]}"#), path: "egress.allow[0]", "invalid address or prefix"),
    invalid("egress missing vsock port", withBase(#""egress": {"port": 3128}"#), path: "egress.vsock_port", "required key \"vsock_port\" is missing"),

    // Mounts.
    invalid("mount served by no mapping", withBase(#""hosts": [\#(host)], "mounts": [{"type": "nfs4", "server": "127.0.0.200", "target": "/mnt/pv"}]"#), path: "mounts[0].server", "no hosts[] mapping serves 127.0.0.200:2049"),
    invalid("mount on the wrong port", withBase(#""hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000}], "mounts": [{"type": "nfs4", "server": "127.0.0.200", "port": 2050, "target": "/mnt/pv"}]"#), path: "mounts[0].server", "serves 127.0.0.200:2050"),
    invalid("mount type nfs3", withBase(#""hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000}], "mounts": [{"type": "nfs3", "server": "127.0.0.200", "target": "/mnt/pv"}]"#), path: "mounts[0].type", "unsupported mount type"),
    invalid("relative mount target", withBase(#""hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000}], "mounts": [{"type": "nfs4", "server": "127.0.0.200", "target": "mnt/pv"}]"#), path: "mounts[0].target", "not absolute"),
    invalid("mount options setting addr", withBase(#""hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000}], "mounts": [{"type": "nfs4", "server": "127.0.0.200", "target": "/mnt", "options": "hard,addr=10.0.0.1"}]"#), path: "mounts[0].options", "\"addr\" is set by enclave-init"),
    invalid("mount options setting port", withBase(#""hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000}], "mounts": [{"type": "nfs4", "server": "127.0.0.200", "target": "/mnt", "options": "port=2050"}]"#), path: "mounts[0].options", "\"port\" is set by enclave-init"),
    invalid("mount options with NFSv3", withBase(#""hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000}], "mounts": [{"type": "nfs4", "server": "127.0.0.200", "target": "/mnt", "options": "vers=3"}]"#), path: "mounts[0].options", "vers=3: only NFSv4"),
    invalid("mount options with an empty option", withBase(#""hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000}], "mounts": [{"type": "nfs4", "server": "127.0.0.200", "target": "/mnt", "options": "hard,,timeo=5"}]"#), path: "mounts[0].options", "an empty option"),
    invalid("mount options with spaces", withBase(#""hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000}], "mounts": [{"type": "nfs4", "server": "127.0.0.200", "target": "/mnt", "options": "hard, timeo=5"}]"#), path: "mounts[0].options", "comma-separated"),

    // App.
    invalid("no app at all", #"{"version": 1}"#, path: "app.command", "no command to run"),
    invalid("empty command", #"{"version": 1, "app": {"command": []}}"#, path: "app.command", "no command to run"),
    invalid("empty program name", #"{"version": 1, "app": {"command": [""]}}"#, path: "app.command[0]", "program name is empty"),
    invalid("command not strings", #"{"version": 1, "app": {"command": ["/bin/echo", 3]}}"#, path: "app.command[1]", "expected a string, found integer 3"),
    invalid("bad user syntax", #"{"version": 1, "app": {"command": ["/bin/true"], "user": "1000:1000:1"}}"#, path: "app.user", "not uid[:gid]"),
    invalid("user id too large", #"{"version": 1, "app": {"command": ["/bin/true"], "user": "4294967295"}}"#, path: "app.user", "not uid[:gid]"),
    invalid("relative workdir", #"{"version": 1, "app": {"command": ["/bin/true"], "workdir": "app"}}"#, path: "app.workdir", "not absolute"),
    invalid("unknown restart policy", #"{"version": 1, "app": {"command": ["/bin/true"], "restart": "sometimes"}}"#, path: "app.restart", "one of"),
    invalid("env value not a string", #"{"version": 1, "app": {"command": ["/bin/true"], "env": {"N": 1}}}"#, path: "app.env.N", "expected a string"),
    invalid("ready with both probes", #"{"version": 1, "app": {"command": ["/bin/true"], "ready": {"tcp": 80, "file": "/x"}}}"#, path: "app.ready", "not both"),
    invalid("ready probes enclave-init's own port", withBase(#""egress": {"port": 3128, "vsock_port": 8001}"#).replacingFirst(#""command": ["/bin/true"]"#, with: #""command": ["/bin/true"], "ready": {"tcp": 3128}"#), path: "app.ready.tcp", "enclave-init's own listener"),
    invalid("relative hosts file", withBase(#""network": {"hosts_file": "etc/hosts"}"#), path: "network.hosts_file", "not absolute"),

    // DNS, transparent egress, vsock for the app.
    invalid("dns without vsock port", withBase(#""dns": {}"#), path: "dns.vsock_port", "required key \"vsock_port\" is missing"),
    invalid("dns vsock port as string", withBase(#""dns": {"vsock_port": "8053"}"#), path: "dns.vsock_port", "expected an integer"),
    invalid("dns unknown key", withBase(#""dns": {"vsock_port": 8053, "port": 53}"#), path: "dns.port", "unknown key"),
    invalid("dns on a mapping's vsock port", withBase(#""hosts": [\#(host)], "dns": {"vsock_port": 8000}"#), path: "dns.vsock_port", "already used by hosts[0].vsock_port"),
    invalid("dns on the egress vsock port", withBase(#""egress": {"port": 3128, "vsock_port": 8001}, "dns": {"vsock_port": 8001}"#), path: "dns.vsock_port", "already used by egress.vsock_port"),
    invalid("dns stub clashes with a mapping on 127.0.0.1:53", withBase(#""hosts": [{"names": ["a.example"], "address": "127.0.0.1", "port": 53, "vsock_port": 8000}], "dns": {"vsock_port": 8053}"#), path: "dns", "the DNS stub's listener 127.0.0.1:53 is already used by hosts[0].port"),
    invalid("dns stub clashes with egress on port 53", withBase(#""egress": {"port": 53, "vsock_port": 8001}, "dns": {"vsock_port": 8053}"#), path: "dns", "already used by egress.port"),
    invalid("relative resolv.conf", withBase(#""network": {"resolv_conf": "resolv.conf"}, "dns": {"vsock_port": 8053}"#), path: "network.resolv_conf", "not absolute"),
    invalid("attestation without a port", withBase(#""attestation": {}"#), path: "attestation.port", "required key \"port\" is missing"),
    invalid("attestation port 0", withBase(#""attestation": {"port": 0}"#), path: "attestation.port", "out of range 1-65535"),
    invalid("attestation on the egress port", withBase(#""egress": {"port": 7777, "vsock_port": 8001}, "attestation": {"port": 7777}"#), path: "attestation.port", "already used by egress.port"),
    invalid("ingress to the attestation endpoint without one", withBase(#""ingress": [{"vsock_port": 5000, "attestation": true}]"#), path: "ingress[0].attestation", "\"attestation\": true needs the attestation endpoint"),
    invalid("ingress with both port and attestation", withBase(#""attestation": {"port": 7777}, "ingress": [{"vsock_port": 5000, "port": 8080, "attestation": true}]"#), path: "ingress[0].port", "give either port (the app's) or \"attestation\": true"),
    invalid("attestation on the app's ingress port", withBase(#""attestation": {"port": 8080}, "ingress": [{"vsock_port": 5000, "port": 8080}]"#), path: "ingress[0].port", "already used by attestation.port"),
    invalid("transparent not a boolean", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": "yes"}"#), path: "egress.transparent", "expected true or false"),
    invalid("kms wait_seconds too long", withBase(#""hosts": [\#(kmsHost)], "kms": {"region": "us-east-1", "credentials": {"vsock_port": 8010}, "wait_seconds": 601}"#), path: "kms.wait_seconds", "wait_seconds 601 is out of range 0-600"),
    invalid("restart_reset_seconds 0", #"{"version": 1, "app": {"command": ["/app"], "restart_reset_seconds": 0}}"#, path: "app.restart_reset_seconds", "restart_reset_seconds 0 is out of range 1-86400"),
    invalid("udp rule without egress.udp", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "allow": ["udp:time.example.com:123"]}"#), path: "egress.allow[0]", "is for UDP, which is carried only with egress.udp"),
    invalid("udp without transparent", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "udp": true}"#), path: "egress.udp", "UDP is captured only with transparent egress"),
    invalid("udp with transparent false", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": false, "udp": {"vsock_port": 8002}}"#), path: "egress.udp", "add \"transparent\": true"),
    invalid("udp as a string", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": "yes"}"#), path: "egress.udp", "expected true, false or an object"),
    invalid("udp unknown key", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": {"idle_second": 30}}"#), path: "egress.udp.idle_second", "did you mean \"idle_seconds\"?"),
    invalid("udp idle 0", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": {"idle_seconds": 0}}"#), path: "egress.udp.idle_seconds", "idle_seconds 0 is out of range 1-3600"),
    invalid("udp max_flows too many", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": {"max_flows": 100000}}"#), path: "egress.udp.max_flows", "out of range 1-65536"),
    invalid("udp on the egress vsock port", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": {"vsock_port": 8001}}"#), path: "egress.udp", "parent vsock port 8001 is already used by egress.vsock_port"),
    invalid("udp's default port taken by dns", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": true}, "dns": {"vsock_port": 8002}"#), path: "dns.vsock_port", "already used by egress.udp"),
    invalid("udp's default port out of range", withBase(#""egress": {"port": 3128, "vsock_port": 4294967294, "transparent": true, "udp": true}"#), path: "egress.udp", "the default vsock port (egress.vsock_port + 1) is out of range"),
    invalid("allow_vsock not a boolean", #"{"version": 1, "app": {"command": ["/bin/true"], "allow_vsock": 1}}"#, path: "app.allow_vsock", "expected true or false"),
    invalid("control without a vsock port", withBase(#""control": {}"#), path: "control.vsock_port", "required key \"vsock_port\" is missing"),
    invalid("control vsock port 0", withBase(#""control": {"vsock_port": 0}"#), path: "control.vsock_port", "out of range"),
    invalid("control unknown key", withBase(#""control": {"vsock_port": 9102, "port": 9102}"#), path: "control.port", "unknown key"),
    invalid("control on an ingress vsock port", withBase(#""ingress": [{"vsock_port": 5000, "port": 8080}], "control": {"vsock_port": 5000}"#), path: "control.vsock_port", "already used by ingress[0].vsock_port"),
    invalid("clock without a vsock port", withBase(#""clock": {"interval_seconds": 60}"#), path: "clock.vsock_port", "required key \"vsock_port\" is missing"),
    invalid("clock interval too short", withBase(#""clock": {"vsock_port": 9103, "interval_seconds": 1}"#), path: "clock.interval_seconds", "out of range 10-86400"),
    invalid("clock interval as string", withBase(#""clock": {"vsock_port": 9103, "interval_seconds": "300"}"#), path: "clock.interval_seconds", "expected an integer"),
    invalid("clock on the dns vsock port", withBase(#""dns": {"vsock_port": 8053}, "clock": {"vsock_port": 8053}"#), path: "clock.vsock_port", "already used by dns.vsock_port"),
    // kms and secrets.
    invalid("secrets without kms", withBase(#""secrets": [{"env": "A", "ciphertext": "AQID"}]"#), path: "secrets", "secrets need \"kms\""),
    invalid("kms without a use", withBase(#""hosts": [\#(kmsHost)], "kms": {"region": "us-east-1", "credentials": {"vsock_port": 8010}}"#), path: "kms", "nothing uses it"),
    invalid("kms without region", withBase(#""kms": {"credentials": {"vsock_port": 8010}, "proxy": {"port": 9999}}"#), path: "kms.region", "required key \"region\""),
    invalid("kms region with capitals", withBase(#""kms": {"region": "US-East-1", "credentials": {"vsock_port": 8010}, "proxy": {"port": 9999}}"#), path: "kms.region", "not a region name"),
    invalid("kms without credentials", withBase(#""kms": {"region": "us-east-1", "proxy": {"port": 9999}}"#), path: "kms.credentials", "required key \"credentials\""),
    invalid("kms endpoint as a URL", withBase(#""kms": {"region": "us-east-1", "endpoint": "https://kms.us-east-1.amazonaws.com", "credentials": {"vsock_port": 8010}, "proxy": {"port": 9999}}"#), path: "kms.endpoint", "is a URL"),
    invalid("kms relative ca_file", withBase(#""kms": {"region": "us-east-1", "ca_file": "ca.pem", "credentials": {"vsock_port": 8010}, "proxy": {"port": 9999}}"#), path: "kms.ca_file", "not absolute"),
    invalid("kms proxy on the attestation port", withBase(#""hosts": [\#(kmsHost)], "attestation": {"port": 7777}, "kms": {"region": "us-east-1", "credentials": {"vsock_port": 8010}, "proxy": {"port": 7777}}"#), path: "kms.proxy.port", "already used by attestation.port"),
    invalid("kms credentials on the dns vsock port", withBase(#""hosts": [\#(kmsHost)], "dns": {"vsock_port": 8053}, "kms": {"region": "us-east-1", "credentials": {"vsock_port": 8053}, "proxy": {"port": 9999}}"#), path: "kms.credentials.vsock_port", "already used by dns.vsock_port"),
    invalid("secret with env and file", withSecrets(#"{"env": "A", "file": "/run/a", "ciphertext": "AQID"}"#), path: "secrets[0].file", "not both"),
    invalid("secret without destination", withSecrets(#"{"ciphertext": "AQID"}"#), path: "secrets[0].env", "needs a destination"),
    invalid("secret without ciphertext", withSecrets(#"{"env": "A"}"#), path: "secrets[0].ciphertext", "needs its ciphertext"),
    invalid("secret with both ciphertexts", withSecrets(#"{"env": "A", "ciphertext": "AQID", "ciphertext_file": "/c"}"#), path: "secrets[0].ciphertext_file", "not both"),
    invalid("secret ciphertext not base64", withSecrets(#"{"env": "A", "ciphertext": "not base64!"}"#), path: "secrets[0].ciphertext", "not base64"),
    invalid("secret bad variable name", withSecrets(#"{"env": "1A", "ciphertext": "AQID"}"#), path: "secrets[0].env", "not an environment variable name"),
    invalid("secret relative file", withSecrets(#"{"file": "run/a", "ciphertext": "AQID"}"#), path: "secrets[0].file", "not absolute"),
    invalid("secret file with ..", withSecrets(#"{"file": "/run/../etc/a", "ciphertext": "AQID"}"#), path: "secrets[0].file", "has . or .."),
    invalid("secret bad mode", withSecrets(#"{"file": "/run/a", "mode": "0999", "ciphertext": "AQID"}"#), path: "secrets[0].mode", "not an octal file mode"),
    invalid("secret mode on env", withSecrets(#"{"env": "A", "mode": "0400", "ciphertext": "AQID"}"#), path: "secrets[0].mode", "applies to a \"file\" secret"),
    invalid("secret env twice", withSecrets(#"{"env": "A", "ciphertext": "AQID"}, {"env": "A", "ciphertext": "AQID"}"#), path: "secrets[1].env", "already set by secrets[0].env"),
    invalid("secret env also in app.env", #"{"version": 1, "app": {"command": ["/bin/true"], "env": {"A": "x"}}, "hosts": [\#(kmsHost)], "kms": {"region": "us-east-1", "credentials": {"vsock_port": 8010}}, "secrets": [{"env": "A", "ciphertext": "AQID"}]}"#, path: "secrets[0].env", "already set by app.env.A"),
    invalid("secret file twice", withSecrets(#"{"file": "/run/a", "ciphertext": "AQID"}, {"file": "/run/a", "ciphertext": "AQID"}"#), path: "secrets[1].file", "already used by secrets[0].file"),
    invalid("secret context not strings", withSecrets(#"{"env": "A", "ciphertext": "AQID", "encryption_context": {"n": 1}}"#), path: "secrets[0].encryption_context.n", "expected a string"),
    invalid("secret shadows the SDK endpoint", #"{"version": 1, "app": {"command": ["/bin/true"]}, "hosts": [\#(kmsHost)], "kms": {"region": "us-east-1", "credentials": {"vsock_port": 8010}, "proxy": {"port": 9999}}, "secrets": [{"env": "AWS_ENDPOINT_URL_KMS", "ciphertext": "AQID"}]}"#, path: "secrets[0].env", "set by kms.proxy"),
]

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return replacingCharacters(in: range, with: replacement)
    }
}

/// The mistakes users make, each with what its message must say to fix it (the hint's line
/// to write) and, where it matters, how many messages the whole file gets (one mistake, one
/// message). Checked through the library and through `check` (exit 78).
public struct UserMistakeCase: Sendable, CustomStringConvertible {
    public var name: String
    public var json: String
    public var path: String
    /// Every one of these appears in the message or hint at `path`.
    public var says: [String]
    /// The number of issues the whole document gets, when that is part of the point.
    public var issueCount: Int?
    public var description: String { name }
}

private func mistake(_ name: String, _ json: String, path: String, says: [String], issues: Int? = nil) -> UserMistakeCase {
    UserMistakeCase(name: name, json: json, path: path, says: says, issueCount: issues)
}

private let nfsHost = #"{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000, "remote": "10.0.0.5:2049"}"#

public let userMistakes: [UserMistakeCase] = [
    mistake("an availability zone for a region", withBase(#""kms": {"region": "us-east-1a", "credentials": {"vsock_port": 8010}, "proxy": {"port": 9999}}"#),
            path: "kms.region", says: ["is an availability zone, not a region", "write its region: \"us-east-1\""]),
    mistake("kms credentials as a number, with secrets", withBase(#""hosts": [\#(kmsHost)], "kms": {"region": "us-east-1", "credentials": 8010}, "secrets": [{"env": "A", "ciphertext": "AQID"}]"#),
            path: "kms.credentials", says: ["object"], issues: 1),
    mistake("a secret file nobody may read", withSecrets(#"{"file": "/run/secrets/db", "mode": "0000", "ciphertext": "AQID"}"#),
            path: "secrets[0].mode", says: ["lets not even the file's owner read it", "use \"0400\""]),
    mistake("egress.udp's default port taken by a mapping", withBase(#""hosts": [{"names": ["a.internal"], "address": "127.0.0.9", "port": 80, "vsock_port": 8002}], "egress": {"port": 3128, "vsock_port": 8001, "allow": ["**.example"], "udp": true}"#),
            path: "egress.udp", says: ["already used by hosts[0].vsock_port", "egress.udp's stream is on egress.vsock_port + 1 (8002)", "give egress.udp a \"vsock_port\" of its own"]),
    mistake("egress pattern as a URL", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "allow": ["https://kms.us-east-1.amazonaws.com/"]}"#),
            path: "egress.allow[0]", says: ["is a URL", "write \"kms.us-east-1.amazonaws.com:443\""], issues: 1),
    mistake("egress pattern as an http URL with a port", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "deny": ["http://evil.example:8080/x"]}"#),
            path: "egress.deny[0]", says: ["write \"evil.example:8080\""], issues: 1),
    mistake("remote as a URL", withBase(#""hosts": [{"names": ["kms.x"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000, "remote": "https://kms.us-east-1.amazonaws.com"}]"#),
            path: "hosts[0].remote", says: ["is a URL", "write \"remote\": \"kms.us-east-1.amazonaws.com:443\""], issues: 1),
    mistake("a vsock port on the heartbeat's default", withBase(#""hosts": [{"names": ["kms.x"], "address": "127.0.0.2", "port": 443, "vsock_port": 9000}]"#),
            path: "hosts[0].vsock_port", says: ["already used by heartbeat.port", "9000 by default", "nitro-cli listens there"], issues: 1),
    mistake("version 1.0", #"{"version": 1.0, "app": {"command": ["/bin/true"]}}"#, path: "version", says: ["write 1, without a decimal point"], issues: 1),
    mistake("a port as 443.0", withBase(#""attestation": {"port": 7777.0}"#), path: "attestation.port", says: ["write 7777"], issues: 1),
    mistake("trailing comma in an object", "{\"version\": 1,\n \"app\": {\"command\": [\"/bin/true\"]},\n}", path: "(document)",
            says: ["line 2, column 35", "a trailing comma before '}': JSON allows none; remove this comma"], issues: 1),
    mistake("trailing comma in an array", #"{"version": 1, "app": {"command": ["/bin/true",]}}"#, path: "(document)",
            says: ["a trailing comma before ']'", "remove this comma"], issues: 1),
    mistake("a // comment", "{\"version\": 1, // the format\n \"app\": {\"command\": [\"/bin/true\"]}}", path: "(document)",
            says: ["line 1, column 16", "JSON has no comments", "remove it"], issues: 1),
    mistake("a /* comment */", "{\"version\": 1 /* v1 */, \"app\": {\"command\": [\"/bin/true\"]}}", path: "(document)", says: ["JSON has no comments"], issues: 1),
    mistake("single quotes", "{'version': 1}", path: "(document)", says: ["a single quote", "double quotes"], issues: 1),
    mistake("single-quoted value", #"{"version": 1, "hostname": 'enclave'}"#, path: "(document)", says: ["a single quote"], issues: 1),
    mistake("command as a string", #"{"version": 1, "app": {"command": "/usr/bin/python3 /app/main.py"}}"#, path: "app.command",
            says: ["expected an array of strings", "write \"command\": [\"/usr/bin/python3\", \"/app/main.py\"]"], issues: 1),
    mistake("a misspelt required key", #"{"versoin": 1, "app": {"command": ["/bin/true"]}}"#, path: "versoin",
            says: ["unknown key \"versoin\"", "did you mean \"version\"?"], issues: 1),
    mistake("a misspelt required key in a section", withBase(#""logs": {"vsock_prot": 9100}"#), path: "logs.vsock_prot",
            says: ["did you mean \"vsock_port\"?"], issues: 1),
    mistake("a mount's server given as the mapping's name",
            withBase(#""hosts": [\#(nfsHost)], "mounts": [{"type": "nfs4", "server": "nfs.internal", "target": "/mnt"}]"#),
            path: "mounts[0].server", says: ["is a name", "hosts[0] maps \"nfs.internal\" to 127.0.0.200: write \"server\": \"127.0.0.200\""], issues: 1),
    mistake("several bad mount options, and the mapping missing too",
            withBase(#""hosts": [\#(nfsHost)], "mounts": [{"type": "nfs4", "server": "127.0.0.201", "target": "/mnt", "options": "addr=10.0.0.5,vers=3,hard,proto=udp"}]"#),
            path: "mounts[0].options", says: ["\"addr\" is set by enclave-init"], issues: 4),
]

/// Configs that decode but give enclave-init no way to reach KMS: refused by run, check and plan
/// (the egress policy is judged outside BootConfig, so the library's own table cannot hold them).
public let unreachableKMSConfigs: [InvalidConfigCase] = [
    invalid("kms unreachable", withBase(#""kms": {"region": "us-east-1", "credentials": {"vsock_port": 8010}, "proxy": {"port": 9999}}"#), path: "kms.endpoint", "nothing carries kms.us-east-1.amazonaws.com:443 out of the enclave"),
    invalid("kms denied by the egress policy", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "allow": ["*.example.com"]}, "kms": {"region": "us-east-1", "credentials": {"vsock_port": 8010}, "proxy": {"port": 9999}}"#), path: "kms.endpoint", "the egress policy does not let enclave-init reach"),
]
