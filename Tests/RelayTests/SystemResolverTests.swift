import Relay
import Testing

/// glibc's resolver with lookups pinned to "files dns". Only names from the machine's
/// /etc/hosts and literals: no test here sends a DNS query.
@Suite struct SystemResolverTests {
    @Test func literalsAndLocalhostResolveWithoutDNS() throws {
        #expect(try SystemResolver.resolve(host: "127.0.0.1", port: 80, family: .any) == [.tcp(host: "127.0.0.1", port: 80)])
        #expect(try SystemResolver.resolve(host: "::1", port: 443, family: .any) == [.tcp(host: "::1", port: 443)])
        #expect(try SystemResolver.resolve(host: "localhost", port: 8, family: .ipv4) == [.tcp(host: "127.0.0.1", port: 8)])
    }

    @Test func theFamilyFilterRefusesAnAddressOfTheOtherFamily() {
        #expect(throws: RelayError.self) { try SystemResolver.resolve(host: "127.0.0.1", port: 80, family: .ipv6) }
        #expect(throws: RelayError.self) { try SystemResolver.resolve(host: "::1", port: 80, family: .ipv4) }
        do {
            _ = try SystemResolver.resolve(host: "::1", port: 80, family: .ipv4)
        } catch {
            #expect("\(error)".hasPrefix("cannot resolve ::1: "), "\(error)")
        }
    }
}
