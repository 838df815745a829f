import Addressing
import Testing

/// The one address model: IP addresses of either family, hosts (a name or an address), and
/// host:port with an optional default port.
@Suite struct AddressModelTests {
    @Test(arguments: [
        ("10.0.0.1", "10.0.0.1", AddressFamily.ipv4),
        ("2001:DB8::1", "2001:db8::1", .ipv6),
        ("::ffff:192.0.2.7", "192.0.2.7", .ipv4), // IPv4-mapped: one address, one value
        ("::1", "::1", .ipv6),
    ])
    func anAddressOfEitherFamilyIsReadOnce(_ text: String, _ canonical: String, _ family: AddressFamily) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == canonical)
        #expect(address.family == family)
    }

    @Test(arguments: ["", "10.0.0", "10.0.0.256", "[::1]", "fe80::1%eth0", "example.com", "1.2.3.4:80"])
    func whatIsNotAnAddressIsNil(_ text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func aHostIsANameOrAnAddress() throws {
        #expect(Host("KMS.us-east-1.AmazonAWS.com.") == .name(["kms", "us-east-1", "amazonaws", "com"]))
        #expect(Host("192.0.2.1") == .ipv4(IPv4Address("192.0.2.1")!))
        #expect(Host("2001:db8::5") == .address(.v6(IPv6Address.parse("2001:db8::5")!)))
        #expect(Host("not a host") == nil)
        #expect(try #require(Host("2001:db8::5")).authority(port: 443) == "[2001:db8::5]:443")
        #expect(try #require(Host("a.example")).authority(port: 53) == "a.example:53")
    }

    @Test(arguments: [
        ("kms.example.com", "kms.example.com:443"),
        ("kms.example.com:8443", "kms.example.com:8443"),
        ("[2001:db8::1]", "[2001:db8::1]:443"),
        ("[2001:db8::1]:444", "[2001:db8::1]:444"),
        ("192.0.2.1", "192.0.2.1:443"),
    ])
    func aDefaultPortFillsInWhatIsLeftOut(_ text: String, _ expected: String) throws {
        #expect(try HostPort.parse(text, defaultPort: 443).get().description == expected)
    }

    @Test(arguments: ["2001:db8::1", "kms.example.com:", "kms.example.com:0", "[::1", "[::1]x", "bad host:1"])
    func aDefaultPortDoesNotMakeABadHostPortGood(_ text: String) {
        #expect((try? HostPort.parse(text, defaultPort: 443).get()) == nil)
    }

    @Test func withoutADefaultThePortIsRequired() throws {
        #expect(HostPort.parse("kms.example.com") == .failure(.missingPort))
        #expect(try HostPort.parse("[::1]:80").get().address == .v6(IPv6Address.parse("::1")!))
        #expect(try HostPort.parse("a.example:80").get().address == nil)
    }
}
