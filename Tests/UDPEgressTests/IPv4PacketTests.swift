import Addressing
import Testing
@testable import UDPEgress

/// The packets the TUN device carries: what the app's kernel writes is read back, and what is
/// written for the app carries checksums a receiver's sum confirms (the sandbox and qemu tests
/// show the kernel itself accepting them: it drops a UDP datagram or ICMP with a bad sum).
@Suite struct IPv4PacketTests {
    let app = UDPEndpoint(IPv4Address("192.0.0.8")!, 40_000)
    let server = UDPEndpoint(IPv4Address("198.18.0.53")!, 53)

    private func parse(_ bytes: [UInt8]) -> IPv4Packet.Parsed {
        bytes.withUnsafeBytes { IPv4Packet.parse($0) }
    }

    /// The one's-complement sum over the bytes, the stored checksum included: 0xFFFF when right.
    private func verifies(_ bytes: ArraySlice<UInt8>, plus extra: UInt32 = 0) -> Bool {
        IPv4Packet.fold(IPv4Packet.partialSum(bytes) &+ extra) == 0
    }

    @Test func anAnswerParsesBackWithItsPayloadAndValidChecksums() {
        let payload: [UInt8] = Array("time?".utf8)
        let packet = payload.withUnsafeBytes { IPv4Packet.udp(from: server, to: app, payload: $0) }
        #expect(packet.count == 20 + 8 + payload.count)
        guard case .udp(let source, let destination, let range) = parse(packet) else {
            Issue.record("not parsed as UDP")
            return
        }
        #expect(source == server && destination == app)
        #expect(Array(packet[range]) == payload)
        #expect(verifies(packet[0..<20]), "IP header checksum")
        let pseudo = IPv4Packet.partialSum(packet[12..<20]) &+ 17 &+ UInt32(8 + payload.count)
        #expect(verifies(packet[20...], plus: pseudo), "UDP checksum")
    }

    @Test func theLargestDatagramFitsOnePacket() {
        let payload = [UInt8](repeating: 0xA5, count: IPv4Packet.maximumPayload)
        let packet = payload.withUnsafeBytes { IPv4Packet.udp(from: server, to: app, payload: $0) }
        #expect(packet.count == 65_535)
        guard case .udp(_, _, let range) = parse(packet) else {
            Issue.record("not parsed")
            return
        }
        #expect(range.count == IPv4Packet.maximumPayload)
    }

    @Test func portUnreachableQuotesTheDatagramSoTheKernelFindsTheSocket() {
        let packet = IPv4Packet.portUnreachable(app: app, flowDestination: server, payloadLength: 30)
        #expect(packet[9] == 1, "ICMP")
        #expect(Array(packet[12..<16]) == server.address.octets && Array(packet[16..<20]) == app.address.octets)
        #expect(packet[20] == 3 && packet[21] == 3, "destination unreachable, port unreachable")
        #expect(verifies(packet[0..<20]) && verifies(packet[20...]))
        // The quoted datagram's headers (its payload is not quoted): from the app's socket to the destination.
        let quoted = Array(packet[28...])
        #expect(quoted.count == 28)
        #expect(Array(quoted[12..<16]) == app.address.octets && Array(quoted[16..<20]) == server.address.octets)
        #expect(quoted[20] == UInt8(app.port >> 8) && quoted[21] == UInt8(app.port & 0xFF))
        #expect(quoted[22] == 0 && quoted[23] == 53)
        #expect(quoted[24] == 0 && quoted[25] == 38, "the UDP length of the original datagram (8 + 30)")
    }

    @Test func whatIsNotACarriedDatagramIsNamed() {
        var udp = [UInt8](Array("x".utf8)).withUnsafeBytes { IPv4Packet.udp(from: app, to: server, payload: $0) }
        #expect(parse(Array(udp[0..<10])) == .malformed("10 bytes, shorter than an IPv4 header"))
        var icmp = udp
        icmp[9] = 1
        #expect(parse(icmp) == .otherProtocol(1))
        var fragment = udp
        fragment[6] = 0x20 // more fragments
        #expect(parse(fragment) == .fragment)
        var ipv6 = udp
        ipv6[0] = 0x60
        #expect(parse(ipv6) == .malformed("IP version 6"))
        udp[25] = 200 // a UDP length longer than the packet
        #expect(parse(udp) == .malformed("UDP length 200"))
    }
}
