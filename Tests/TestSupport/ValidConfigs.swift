/// Valid boot JSON documents, each with lines that `plan` must print for it.
public struct ValidConfigCase: Sendable, CustomStringConvertible {
    public var name: String
    public var json: String
    /// A command given after `--`, if the case needs one.
    public var commandOverride: [String]
    public var planContains: [String]
    public var description: String { name }
}

private func valid(_ name: String, _ json: String, override: [String] = [], plan: [String]) -> ValidConfigCase {
    ValidConfigCase(name: name, json: json, commandOverride: override, planContains: plan)
}

public let validConfigs: [ValidConfigCase] = [
    valid("plain and TLS ingress to one app port", withBase(#""ingress": [{"vsock_port": 5080, "port": 8080, "host_port": 80}, {"vsock_port": 5443, "port": 8080, "host_port": 443, "tls": {"names": ["app.example.com"]}}]"#),
          plan: ["ingress vsock:any:5080 -> tcp:127.0.0.1:8080, parent listens on tcp port 80",
                 "ingress vsock:any:5443 -> TLS terminated by enclave-init -> tcp:127.0.0.1:8080, parent listens on tcp port 443"]),
    valid("attested ingress, self-signed", withBase(#""ingress": [{"vsock_port": 5443, "port": 8080, "host_port": 443, "tls": {"names": ["app.example.com"], "alpn": ["h2", "http/1.1"], "certificate_file": "/run/tls/app.pem"}}]"#),
          plan: ["ingress vsock:any:5443 -> TLS terminated by enclave-init -> tcp:127.0.0.1:8080, parent listens on tcp port 443 (it carries ciphertext only)",
                 "key: P-256, made at boot in enclave-init's memory (never written, never logged)", "certificate: self-signed for app.example.com, 30 days",
                 "ALPN for the app: h2, http/1.1", "user_data = \"enclave-init:tls:sha256:\" + SHA-256 of the certificate's public key",
                 "certificate chain for the app: /run/tls/app.pem (PEM; never the key)"]),
    valid("attested ingress, ACME through a mapping", withBase(#""hosts": [{"names": ["acme.test"], "address": "127.0.0.20", "port": 14000, "vsock_port": 8300}], "ingress": [{"vsock_port": 5443, "port": 8080, "host_port": 443, "tls": {"names": ["app.test"], "certificate": "acme", "acme": {"directory": "https://acme.test:14000/dir", "until_issued": "refuse"}}}]"#),
          plan: ["certificate: from the ACME CA https://acme.test:14000/dir via hosts[] alias 127.0.0.20:14000", "TLS-ALPN-01 answered here",
                 "until issued: TLS handshakes are refused", "ALPN for the app: none selected"]),
    valid("control and clock", withBase(#""control": {"vsock_port": 9102}, "clock": {"vsock_port": 9103, "interval_seconds": 60}"#),
          plan: ["control vsock:any:9102: `stop` from the parent", "clock: the parent's CLOCK_REALTIME from vsock:3:9103 before the app",
                 "then every 60 s (slewed; stepped from 0.5 s; a step over 60 s refused)", "or `stop` on the control port"]),
    valid("minimal with command override", #"{"version": 1}"#, override: ["/bin/echo", "hi there"],
          plan: ["lo up; addresses: 127.0.0.1/8", "exec /bin/echo 'hi there'", "restart: no", "wait up to 10 s"]),
    valid("command in config", #"{"version": 1, "app": {"command": ["/bin/sleep", "1"]}}"#,
          plan: ["exec /bin/sleep 1", "heartbeat: auto, to vsock:3:9000"]),
    valid("override replaces config command", #"{"version": 1, "app": {"command": ["/bin/false"]}}"#, override: ["/bin/true"],
          plan: ["exec /bin/true"]),
    valid("one mapping, defaults", withBase(#""hosts": [{"names": ["kms.us-east-1.amazonaws.com"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000}]"#),
          plan: ["127.0.0.1/8 127.0.0.2/32", "127.0.0.2 kms.us-east-1.amazonaws.com",
                 "outbound tcp:127.0.0.2:443 -> vsock:3:8000, parent dials kms.us-east-1.amazonaws.com:443"]),
    valid("names merged per address", withBase(#""hosts": [{"names": ["a.example", "b.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000}, {"names": ["c.example"], "address": "127.0.0.2", "port": 80, "vsock_port": 8001}]"#),
          plan: ["127.0.0.2 a.example b.example c.example", "outbound tcp:127.0.0.2:80 -> vsock:3:8001"]),
    valid("explicit remote and limits", withBase(#""hosts": [{"names": ["db.internal"], "address": "127.0.0.5", "port": 5432, "vsock_port": 8100, "remote": "10.0.0.7:5432", "max_connections": 16, "connect_timeout_ms": 1000}]"#),
          plan: ["parent dials 10.0.0.7:5432, at most 16 connections"]),
    valid("IPv6 remote", withBase(#""hosts": [{"names": ["v6.example"], "address": "127.0.0.6", "port": 443, "vsock_port": 8200, "remote": "[2001:db8::1]:8443"}]"#),
          plan: ["parent dials [2001:db8::1]:8443"]),
    valid("hostname gets 127.0.1.1", withBase(#""hostname": "enclave""#),
          plan: ["hostname: enclave", "127.0.1.1 enclave"]),
    valid("hostname claimed by a mapping", withBase(#""hostname": "api.example", "hosts": [{"names": ["api.example"], "address": "127.0.0.9", "port": 443, "vsock_port": 8000}]"#),
          plan: ["127.0.0.9 api.example", "managed block with 1 line"]),
    valid("ingress with default host port", withBase(#""ingress": [{"vsock_port": 5000, "port": 8080}]"#),
          plan: ["ingress vsock:any:5000 -> tcp:127.0.0.1:8080, parent listens on tcp port 8080"]),
    valid("ingress to the attestation endpoint", withBase(#""attestation": {"port": 7777}, "ingress": [{"vsock_port": 5001, "attestation": true, "host_port": 17777}]"#),
          plan: ["ingress vsock:any:5001 -> tcp:127.0.0.1:7777 (the attestation endpoint, for verify --endpoint), parent listens on tcp port 17777"]),
    valid("transparent egress without udp", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "allow": ["**.example.test"]}"#),
          plan: ["capture: route default dev lo src 127.0.0.1; nat OUTPUT -p tcp ! -d 127.0.0.0/8 -j REDIRECT --to-ports 3128",
                 "UDP is not captured: datagrams outside 127.0.0.0/8 go nowhere (add \"udp\": true to egress to carry them)"]),
    valid("transparent egress with udp", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": {"max_flows": 64}, "allow": ["**.example.test"]}"#),
          plan: ["capture: TUN device ei-udp (192.0.0.8/32, mtu 65535); route default dev ei-udp src 192.0.0.8; nat OUTPUT -p tcp ! -d 127.0.0.0/8",
                 "UDP is captured too: every datagram the app sends outside 127.0.0.0/8 is read from ei-udp (the DNS stub on 127.0.0.1:53 is not)",
                 "udp capture dev ei-udp -> vsock:3:8002: each new flow (app port, destination address and port) checked by the egress policy, refused with ICMP port unreachable; at most 64 flows (the one idle longest gives way), idle 60 s"]),
    valid("egress policy", withBase(#""egress": {"port": 3128, "vsock_port": 8001, "allow": ["kms.*.amazonaws.com:443", "**.mycorp.com", "10.0.0.0/8:1024-65535", "[2001:db8::/32]:443"], "deny": ["auth.mycorp.com."]}"#),
          plan: ["egress HTTP CONNECT proxy tcp:127.0.0.1:3128 -> vsock:3:8001",
                 "allow: kms.*.amazonaws.com:443 **.mycorp.com 10.0.0.0/8:1024-65535 [2001:db8::/32]:443", "deny: auth.mycorp.com."]),
    valid("NFS mount through its mapping", withBase(#""hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": 2049, "vsock_port": 20000, "remote": "127.0.0.1:2049"}], "mounts": [{"type": "nfs4", "server": "127.0.0.200", "target": "/mnt/pv", "options": "hard,timeo=50", "required": false}]"#),
          plan: ["nfs4 127.0.0.200:/ on /mnt/pv (port 2049, options hard,timeo=50, retry for 30 s, optional)"]),
    valid("app details", #"{"version": 1, "app": {"command": ["/app/server"], "env": {"MODE": "prod", "EMPTY": ""}, "workdir": "/app", "user": "app:app", "restart": "always", "restart_limit": 2, "ready": {"file": "/run/ready"}}, "shutdown": {"grace_seconds": 3}}"#,
          plan: ["workdir /app", "user app:app", "env MODE=prod EMPTY=''", "ready when /run/ready exists (within 30 s)",
                 "restart: always, at most 2 times", "wait up to 3 s"]),
    valid("streams and custom parent", withBase(#""parent_cid": 7, "heartbeat": {"enabled": false}, "logs": {"vsock_port": 9100}, "status": {"vsock_port": 9101}"#),
          plan: ["heartbeat: off", "logs -> vsock:7:9100, buffer 1048576 bytes", "status -> vsock:7:9101"]),
    valid("extra loopback addresses", withBase(#""network": {"loopback": ["127.0.0.1/8", "127.0.0.50"], "hosts_file": "/run/hosts"}"#),
          plan: ["addresses: 127.0.0.1/8 127.0.0.50/32", "/run/hosts: managed block with 0 lines"]),
]
