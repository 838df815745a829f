import Addressing
import BootConfig
import Policy
import Testing

@Suite struct SyntaxTests {
    @Test(arguments: ["127.0.0.1", "0.0.0.0", "255.255.255.255", "10.1.2.3"])
    func acceptsDottedQuads(_ text: String) {
        #expect(IPv4Address(text)?.description == text)
    }

    @Test(arguments: ["127.1", "0x7f.0.0.1", "127.0.0.01", "2130706433", "127.0.0.256", "127.0.0.1 ", "", "1.2.3.4.5", "+1.2.3.4"])
    func rejectsLenientAddressForms(_ text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test func interfacesAndPrefixes() {
        #expect(IPv4Interface("127.0.0.1/8")?.contains(IPv4Address("127.9.9.9")!) == true)
        #expect(IPv4Interface("127.0.0.1/8")?.contains(IPv4Address("128.0.0.1")!) == false)
        #expect(IPv4Interface("127.0.0.5", defaultPrefix: 32)?.description == "127.0.0.5/32")
        #expect(IPv4Interface("127.0.0.5") == nil)
        #expect(IPv4Interface("127.0.0.5/") == nil)
        #expect(IPv4Interface("0.0.0.0/0")?.contains(IPv4Address("8.8.8.8")!) == true)
    }

    @Test(arguments: [("kms.us-east-1.amazonaws.com", true), ("localhost", true), ("a-b.c", true), ("xn--bcher-kva.example", true),
                      ("-a.b", false), ("a-.b", false), ("a_b", false), ("a..b", false), (".a", false), ("a.", false),
                      (String(repeating: "a", count: 64), false), ("é.example", false), ("", false)])
    func hostnames(_ name: String, _ valid: Bool) {
        #expect(Hostname.isValid(name) == valid)
        #expect((Hostname.problem(with: name) == nil) == valid)
    }

    @Test func hostPorts() {
        #expect((try? HostPort.parse("kms.example.com:443").get()) == HostPort(host: "kms.example.com", port: 443))
        #expect((try? HostPort.parse("10.0.0.7:2049").get()) == HostPort(host: "10.0.0.7", port: 2049))
        #expect((try? HostPort.parse("[2001:db8::1]:8443").get()) == HostPort(host: "2001:db8::1", port: 8443))
        #expect(HostPort(host: "2001:db8::1", port: 1).description == "[2001:db8::1]:1")
        for bad in ["kms.example.com", "kms.example.com:", "a:65536", "a:-1", "2001:db8::1:443", "[zz::1]:1", "[::1]", "a b:1", ":443"] {
            #expect((try? HostPort.parse(bad).get()) == nil, "\(bad) accepted")
        }
    }

    @Test func ipv6Literals() {
        #expect(IPv6Address.parse("::1") == Array(repeating: 0, count: 15) + [1])
        #expect(IPv6Address.parse("::ffff:127.0.0.1")?.suffix(6) == [0xFF, 0xFF, 127, 0, 0, 1])
        #expect(IPv6Address.parse("1:2:3:4:5:6:7:8") != nil)
        for bad in ["1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", ":::", "", "g::1"] { #expect(IPv6Address.parse(bad) == nil, "\(bad)") }
    }

    @Test func userSpecs() {
        #expect(UserSpec("1000:1000") == UserSpec(user: .id(1000), group: .id(1000)))
        #expect(UserSpec("app") == UserSpec(user: .name("app")))
        #expect(UserSpec("app:staff")?.description == "app:staff")
        #expect(UserSpec("0") == UserSpec(user: .id(0)))
        for bad in ["", ":", "1000:", ":1000", "a:b:c", "4294967295", "9app", "a b", "app!"] { #expect(UserSpec(bad) == nil, "\(bad)") }
    }

    @Test func egressRules() throws {
        #expect(try EgressRule.parse("KMS.*.amazonaws.com.").get().host == .domain(["kms", "*", "amazonaws", "com"]))
        #expect(try EgressRule.parse("**.mycorp.com:443").get().ports == 443...443)
        let cidr = try EgressRule.parse("10.0.0.0/8:1024-65535").get()
        #expect(cidr.host == .ipv4(IPv4Interface("10.0.0.0/8")!) && cidr.ports == 1024...65535)
        #expect(try EgressRule.parse("169.254.169.254").get().host == .ipv4(IPv4Interface("169.254.169.254/32")!))
        if case .ipv6(_, let prefix) = try EgressRule.parse("[2001:db8::/32]:443").get().host { #expect(prefix == 32) } else { Issue.record("not IPv6") }
        // A transport first: that one only; none, both.
        let udp = try EgressRule.parse("udp:time.example.com:123").get()
        #expect(udp.transport == .udp && udp.host == .domain(["time", "example", "com"]) && udp.ports == 123...123 && udp.text == "udp:time.example.com:123")
        #expect(udp.covers(.udp) && !udp.covers(.tcp))
        #expect(try EgressRule.parse("TCP:10.0.0.0/8").get().transport == .tcp)
        #expect(try EgressRule.parse("udp:[2001:db8::1]:443").get().transport == .udp)
        #expect(try EgressRule.parse("api.example.com:443").get().transport == nil)
        #expect(EgressRule.parse("udp:") == .failure(.empty))
        #expect(EgressRule.parse("udp:tcp:x.com") == .failure(.badPort("x.com")), "one transport at most")
        if case .ipv6(_, let prefix) = try EgressRule.parse("::1").get().host { #expect(prefix == 128) } else { Issue.record("not IPv6") }
        let failures: [(String, EgressRule.ParseError)] = [
            ("kms*.x.com", .wildcardInsideLabel("kms*")), ("a.**b", .wildcardInsideLabel("**b")), ("", .empty),
            ("a..b", .badLabel("")), ("x.com:0", .badPort("0")), ("x.com:9-1", .badPort("9-1")), ("x.com:70000", .badPort("70000")),
            ("10.0.0.0/33", .badAddress("10.0.0.0/33")), ("[::1", .badAddress("[::1")), ("a_b.com", .badLabel("a_b")),
        ]
        for (text, expected) in failures {
            #expect(throws: expected, "\(text)") { try EgressRule.parse(text).get() }
        }
    }
}
