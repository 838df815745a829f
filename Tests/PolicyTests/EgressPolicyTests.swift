import BootConfig
@testable import Policy
import Testing

/// The egress policy as a table: patterns x hosts x ports, deny wins, no match denies, and
/// every spelling of an address normalised before it is matched.
@Suite struct EgressPolicyTests {
    private func policy(allow: [String], deny: [String] = []) throws -> EgressPolicy {
        EgressPolicy(allow: try allow.map { try EgressRule.parse($0).get() }, deny: try deny.map { try EgressRule.parse($0).get() })
    }

    private func decide(_ policy: EgressPolicy, _ authority: String) -> Bool? {
        guard case .success(let destination) = Destination.parse(authority: authority) else { return nil }
        return policy.decide(destination).isAllowed
    }

    /// (allow, deny, authority, expected): true allowed, false denied, nil malformed (400).
    static let table: [([String], [String], String, Bool?)] = [
        // One label with *, one or more with **.
        (["kms.*.amazonaws.com"], [], "kms.us-east-1.amazonaws.com:443", true),
        (["kms.*.amazonaws.com"], [], "kms.amazonaws.com:443", false),
        (["kms.*.amazonaws.com"], [], "kms.a.b.amazonaws.com:443", false),
        (["kms.*.amazonaws.com"], [], "xkms.us-east-1.amazonaws.com:443", false),
        (["**.x.com"], [], "a.x.com:443", true),
        (["**.x.com"], [], "a.b.c.x.com:443", true),
        (["**.x.com"], [], "x.com:443", false),
        (["**.x.com"], [], "ax.com:443", false),
        (["**.x.com", "x.com"], [], "x.com:443", true),
        (["*.x.com"], [], "a.b.x.com:80", false),
        (["*"], [], "localhost:80", true),
        (["*"], [], "a.b:80", false),
        (["**"], [], "a.b.c:80", true),
        (["x.com"], [], "x.com:1", true),
        // Case and trailing dots.
        (["X.Com"], [], "x.com:443", true),
        (["x.com"], [], "X.COM:443", true),
        (["x.com."], [], "x.com:443", true),
        (["x.com"], [], "x.com.:443", true),
        (["**.MyCorp.com"], [], "API.mycorp.COM.:443", true),
        // Ports and ranges.
        (["x.com:443"], [], "x.com:443", true),
        (["x.com:443"], [], "x.com:80", false),
        (["x.com:8000-8100"], [], "x.com:8000", true),
        (["x.com:8000-8100"], [], "x.com:8100", true),
        (["x.com:8000-8100"], [], "x.com:8101", false),
        (["x.com:8000-8100"], [], "x.com:7999", false),
        // Deny wins; no match denies.
        (["**.mycorp.com"], ["auth.mycorp.com"], "auth.mycorp.com:443", false),
        (["**.mycorp.com"], ["auth.mycorp.com"], "api.mycorp.com:443", true),
        (["**.mycorp.com"], ["auth.mycorp.com:443"], "auth.mycorp.com:8443", true),
        (["**.mycorp.com"], ["**.internal.mycorp.com"], "db.internal.mycorp.com:5432", false),
        (["x.com"], ["x.com"], "x.com:443", false),
        ([], [], "x.com:443", false),
        (["x.com"], [], "y.com:443", false),
        // IPv4 and CIDRs; a name never matches an address rule and the other way round.
        (["10.0.0.0/8"], [], "10.1.2.3:443", true),
        (["10.0.0.0/8"], [], "11.1.2.3:443", false),
        (["10.0.0.0/8:443"], [], "10.1.2.3:80", false),
        (["10.1.2.3"], [], "10.1.2.3:22", true),
        (["10.0.0.0/8"], ["10.9.0.0/16"], "10.9.1.1:443", false),
        (["10.0.0.0/8"], [], "ten.example:443", false),
        (["**"], [], "10.1.2.3:443", false),
        (["0.0.0.0/0"], ["127.0.0.0/8"], "127.0.0.1:80", false),
        // Bypass encodings of 127.0.0.1 all meet the deny rule.
        (["0.0.0.0/0"], ["127.0.0.0/8"], "0x7f.1:80", false),
        (["0.0.0.0/0"], ["127.0.0.0/8"], "0x7f000001:80", false),
        (["0.0.0.0/0"], ["127.0.0.0/8"], "2130706433:80", false),
        (["0.0.0.0/0"], ["127.0.0.0/8"], "0177.0.0.1:80", false),
        (["0.0.0.0/0"], ["127.0.0.0/8"], "127.000.000.001:80", false),
        (["0.0.0.0/0"], ["127.0.0.0/8"], "127.1:80", false),
        (["0.0.0.0/0"], ["127.0.0.0/8"], "[::ffff:127.0.0.1]:80", false),
        (["0.0.0.0/0"], ["127.0.0.0/8"], "[::ffff:7f00:1]:80", false),
        (["0.0.0.0/0"], ["127.0.0.0/8"], "%31%32%37.0.0.1:80", false),
        (["0.0.0.0/0"], ["127.0.0.0/8"], "127.0.0.1.:80", false),
        (["0.0.0.0/0"], ["169.254.169.254"], "0xa9.0xfe.0xa9.0xfe:80", false),
        (["0.0.0.0/0"], ["169.254.169.254"], "2852039166:80", false),
        (["0.0.0.0/0"], ["169.254.169.254"], "169.254.43518:80", false),
        (["0.0.0.0/0"], [], "8.8.8.8:53", true),
        // IPv6.
        (["[2001:db8::/32]"], [], "[2001:db8::1]:443", true),
        (["[2001:db8::/32]"], [], "[2001:db9::1]:443", false),
        (["[2001:db8::/32]:443"], [], "[2001:db8::1]:80", false),
        (["[2001:db8::/32]"], ["[2001:db8:dead::/48]"], "[2001:db8:dead::1]:443", false),
        (["[2001:db8::1]"], [], "[2001:DB8:0:0:0:0:0:1]:443", true),
        (["[::/0]"], ["[::1]"], "[0:0:0:0:0:0:0:1]:80", false),
        // Malformed targets never reach the policy.
        (["**"], [], "user@x.com:443", nil),
        (["**"], [], "x.com@evil.com:443", nil),
        (["**"], [], "x.com", nil),
        (["**"], [], "x.com:0", nil),
        (["**"], [], "x.com:65536", nil),
        (["**"], [], "x.com:44a", nil),
        (["**"], [], "[fe80::1%25eth0]:80", nil),
        (["**"], [], "[::1:80", nil),
        (["**"], [], "1.2.3.4.5:80", nil),
        (["**"], [], "256.1.1.1:80", nil),
        (["**"], [], "0x1ffffffff:80", nil),
        (["**"], [], "a..b:80", nil),
        (["**"], [], "-a.com:80", nil),
        (["**"], [], "a_b.com:80", nil),
        (["**"], [], "%zz.com:80", nil),
        (["**"], [], ":80", nil),
    ]

    @Test func theTableHolds() throws {
        #expect(Self.table.count >= 60)
        for (allow, deny, authority, expected) in Self.table {
            let result = decide(try policy(allow: allow, deny: deny), authority)
            #expect(result == expected, "allow \(allow) deny \(deny) \(authority)")
        }
    }

    @Test(arguments: [
        ("0x7f.1:80", "127.0.0.1:80"), ("2130706433:443", "127.0.0.1:443"), ("0177.0.0.01:1", "127.0.0.1:1"),
        ("[::ffff:127.0.0.1]:80", "127.0.0.1:80"), ("[2001:DB8::0001]:443", "[2001:db8::1]:443"), ("Example.COM.:8080", "example.com:8080"),
        ("%65xample.com:80", "example.com:80"), ("10.258:80", "10.0.1.2:80"),
    ])
    func destinationsAreNormalisedToWhatIsDialled(_ authority: String, _ normalised: String) throws {
        #expect(try Destination.parse(authority: authority).get().description == normalised)
    }

    @Test func resolvedAddressesMeetDenyRulesAndSpecialAddressesNeedAnExplicitAllow() throws {
        let name = try Destination.parse(authority: "allowed.example:443").get()
        func resolved(_ text: String, _ policy: EgressPolicy) throws -> EgressPolicy.Decision {
            policy.decide(resolved: Destination(host: try Destination.parse(host: text).get(), port: 443), for: name)
        }
        let plain = try policy(allow: ["allowed.example"], deny: ["10.0.0.0/8"])
        #expect(try resolved("93.184.216.34", plain).isAllowed)
        #expect(try !resolved("10.1.1.1", plain).isAllowed)
        #expect(try resolved("169.254.169.254", plain) == .deny(reason: "allowed.example:443 resolves to 169.254.169.254, a link-local address; allow it with an IP rule if that is meant"))
        #expect(try !resolved("127.0.0.1", plain).isAllowed)
        #expect(try !resolved("0.0.0.0", plain).isAllowed)
        #expect(try !resolved("[::1]", plain).isAllowed)
        #expect(try !resolved("[fe80::1]", plain).isAllowed)
        #expect(try !resolved("[fd00:ec2::254]", plain).isAllowed)
        let explicit = try policy(allow: ["allowed.example", "169.254.169.254:443"])
        #expect(try resolved("169.254.169.254", explicit).isAllowed)
        let denyWins = try policy(allow: ["allowed.example", "169.254.169.254"], deny: ["169.254.0.0/16"])
        #expect(try !resolved("169.254.169.254", denyWins).isAllowed)
    }

    /// "tcp:" and "udp:" rules cover one transport; a rule without one covers both. Names are
    /// resolvable when a rule of either allows them, and refused only by a deny rule of both.
    @Test func aTransportQualifiedRuleCoversOnlyThatTransport() throws {
        let policy = try policy(allow: ["tcp:api.example.com:443", "udp:time.example.com:123", "both.example.com:443"],
                                deny: ["udp:**.example.com:443"])
        func decide(_ authority: String, _ transport: EgressPolicy.Transport) -> Bool {
            policy.decide(try! Destination.parse(authority: authority).get(), over: transport).isAllowed
        }
        #expect(decide("api.example.com:443", .tcp) && !decide("api.example.com:443", .udp))
        #expect(decide("time.example.com:123", .udp) && !decide("time.example.com:123", .tcp))
        #expect(decide("both.example.com:443", .tcp) && !decide("both.example.com:443", .udp), "the UDP deny wins for UDP only")
        #expect(policy.decide(try Destination.parse(authority: "both.example.com:443").get(), over: .udp)
                == .deny(reason: "udp:both.example.com:443 is denied by \"udp:**.example.com:443\""))
        for name in ["api.example.com", "time.example.com", "both.example.com"] {
            #expect(policy.decide(resolving: name.split(separator: ".").map(String.init)).isAllowed, "\(name)")
        }
        let udpDeniesAll = try self.policy(allow: ["**.example.com"], deny: ["udp:**.example.com"])
        #expect(udpDeniesAll.decide(resolving: ["a", "example", "com"]).isAllowed, "a UDP-only deny leaves the name to TCP")
    }
}
