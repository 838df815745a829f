import Addressing
import Testing

/// The one grammar of hosts: how host:port splits, and when two hosts are the same host.
@Suite struct HostGrammarTests {
    private func split(_ text: String, _ presence: HostGrammar.PortPresence) -> Result<HostGrammar.Split, HostGrammar.SplitError> {
        HostGrammar.split(text[...], port: presence)
    }

    @Test func namesAddressesAndBracketedIPv6Split() {
        #expect(split("kms.example.com:443", .required) == .success(.init(host: "kms.example.com", port: "443", bracketed: false)))
        #expect(split("10.0.0.1:80", .required) == .success(.init(host: "10.0.0.1", port: "80", bracketed: false)))
        #expect(split("[2001:db8::1]:443", .required) == .success(.init(host: "2001:db8::1", port: "443", bracketed: true)))
        #expect(split("host:", .required) == .success(.init(host: "host", port: "", bracketed: false)), "an empty port is the caller's to refuse")
    }

    @Test func aPortMayBeLeftOutOnlyWhereItIsOptional() {
        #expect(split("kms.example.com", .required) == .failure(.missingPort))
        #expect(split("kms.example.com", .optional) == .success(.init(host: "kms.example.com", port: nil, bracketed: false)))
        #expect(split("[::1]", .required) == .failure(.missingPort))
        #expect(split("[::1]", .optional) == .success(.init(host: "::1", port: nil, bracketed: true)))
        #expect(split("2001:db8::/32", .optional) == .success(.init(host: "2001:db8::/32", port: nil, bracketed: false)))
    }

    @Test func ambiguousAndBrokenSpellingsAreNamed() {
        #expect(split("2001:db8::1:443", .required) == .failure(.ipv6NeedsBrackets))
        #expect(split("[2001:db8::1:443", .required) == .failure(.unclosedBracket))
        #expect(split("[::1]443", .required) == .failure(.unexpectedAfterBracket("443")))
    }

    @Test(arguments: [
        ("KMS.Example.COM.", "kms.example.com"),
        ("[::1]", "::1"),
        ("0:0::1", "::1"),
        ("[2001:DB8:0::1]", "2001:db8::1"),
        ("010.000.000.001", "010.000.000.001"), // not an IPv4 literal to inet_pton: compared as written
        ("10.0.0.1", "10.0.0.1"),
        ("*.example.com", "*.example.com"),
        (".", "."),
    ])
    func hostsCompareInOneCanonicalForm(written: String, canonical: String) {
        #expect(HostGrammar.canonical(written) == canonical)
    }

    @Test func everyReaderOfHostPortAgreesWithTheGrammar() {
        #expect(HostPort.parse("[2001:db8::1]:443").map(\.description) == .success("[2001:db8::1]:443"))
        #expect(HostPort.parse("2001:db8::1:443") == .failure(.badHost("2001:db8::1:443 (write IPv6 addresses in brackets)")))
        #expect(HostGrammar.authority(host: "::1", port: 53) == "[::1]:53")
        #expect(HostGrammar.authority(host: "a.example", port: 53) == "a.example:53")
    }
}
