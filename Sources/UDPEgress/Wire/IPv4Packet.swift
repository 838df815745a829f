import Addressing

/// One end of a UDP flow: an IPv4 address and a port.
public struct UDPEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var address: IPv4Address
    public var port: UInt16

    public init(_ address: IPv4Address, _ port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String { Host.ipv4(address).authority(port: port) }
}

/// The IPv4 and UDP headers of what the TUN device carries, read and written by hand: the
/// device hands over bare IP packets and takes bare IP packets, and no library here parses or
/// builds them (the kernel's own structs would need C for every field). Only what the capture
/// needs: UDP out of the app (unfragmented: the device's MTU is 65,535), UDP answers into it,
/// and ICMP port-unreachable for a refused flow.
public enum IPv4Packet {
    public static let headerLength = 20
    public static let udpHeaderLength = 8
    /// The largest UDP payload an IPv4 packet can carry (65,535 - 20 - 8).
    public static let maximumPayload = 65_507

    /// What a packet read from the device is.
    public enum Parsed: Equatable {
        /// A UDP datagram from the app: its source, its destination and where the payload lies
        /// in the packet.
        case udp(source: UDPEndpoint, destination: UDPEndpoint, payload: Range<Int>)
        /// Another protocol (ICMP echo, TCP the capture rule missed): not carried.
        case otherProtocol(UInt8)
        /// A fragment: the device's MTU makes these impossible from the app's own sockets.
        case fragment
        /// Not IPv4 (IPv6 has no route to the device), or lengths that do not add up.
        case malformed(String)
    }

    public static func parse(_ packet: UnsafeRawBufferPointer) -> Parsed {
        guard packet.count >= headerLength else { return .malformed("\(packet.count) bytes, shorter than an IPv4 header") }
        let version = packet[0] >> 4, headerBytes = Int(packet[0] & 0x0F) * 4
        guard version == 4 else { return .malformed("IP version \(version)") }
        guard headerBytes >= headerLength, headerBytes <= packet.count else { return .malformed("header length \(headerBytes)") }
        let total = Int(read16(packet, 2))
        guard total >= headerBytes, total <= packet.count else { return .malformed("total length \(total) of \(packet.count) bytes read") }
        let fragment = read16(packet, 6)
        // More fragments set, or an offset: part of a larger datagram.
        guard fragment & 0x3FFF == 0 else { return .fragment }
        let proto = packet[9]
        guard proto == 17 else { return .otherProtocol(proto) }
        guard total - headerBytes >= udpHeaderLength else { return .malformed("UDP packet shorter than its header") }
        let udpLength = Int(read16(packet, headerBytes + 4))
        guard udpLength >= udpHeaderLength, udpLength <= total - headerBytes else { return .malformed("UDP length \(udpLength)") }
        let source = UDPEndpoint(IPv4Address(read32(packet, 12)), read16(packet, headerBytes))
        let destination = UDPEndpoint(IPv4Address(read32(packet, 16)), read16(packet, headerBytes + 2))
        let start = headerBytes + udpHeaderLength
        return .udp(source: source, destination: destination, payload: start..<(headerBytes + udpLength))
    }

    /// An answer for the app: a UDP datagram from `source` (the flow's destination) to `destination`
    /// (the app's socket), with both checksums, ready to write to the device.
    public static func udp(from source: UDPEndpoint, to destination: UDPEndpoint, payload: UnsafeRawBufferPointer) -> [UInt8] {
        let udpLength = udpHeaderLength + payload.count
        var packet = ipHeader(from: source.address, to: destination.address, protocol: 17, payloadLength: udpLength)
        packet.reserveCapacity(headerLength + udpLength)
        append16(&packet, source.port)
        append16(&packet, destination.port)
        append16(&packet, UInt16(udpLength))
        append16(&packet, 0)
        packet.append(contentsOf: payload)
        // The pseudo-header (addresses, protocol, length) is part of the UDP checksum.
        var sum = partialSum(packet[12..<20]) + 17 + UInt32(udpLength)
        sum += partialSum(packet[headerLength...])
        var checksum = fold(sum)
        if checksum == 0 { checksum = 0xFFFF } // 0 would mean "no checksum"
        packet[headerLength + 6] = UInt8(checksum >> 8)
        packet[headerLength + 7] = UInt8(checksum & 0xFF)
        return packet
    }

    /// ICMP destination unreachable, port unreachable (type 3, code 3), as `flowDestination`
    /// would send it about a datagram from `app`: the kernel hands it to the app's socket
    /// (ECONNREFUSED on a connected one), so a refused flow fails at once instead of timing out.
    /// It quotes the datagram's IP header and the UDP header, which is how the kernel finds the socket.
    public static func portUnreachable(app: UDPEndpoint, flowDestination: UDPEndpoint, payloadLength: Int) -> [UInt8] {
        let udpLength = udpHeaderLength + min(payloadLength, maximumPayload)
        var quoted = ipHeader(from: app.address, to: flowDestination.address, protocol: 17, payloadLength: udpLength)
        append16(&quoted, app.port)
        append16(&quoted, flowDestination.port)
        append16(&quoted, UInt16(udpLength))
        append16(&quoted, 0)
        var icmp: [UInt8] = [3, 3, 0, 0, 0, 0, 0, 0] + quoted
        let checksum = fold(partialSum(icmp[...]))
        icmp[2] = UInt8(checksum >> 8)
        icmp[3] = UInt8(checksum & 0xFF)
        return ipHeader(from: flowDestination.address, to: app.address, protocol: 1, payloadLength: icmp.count) + icmp
    }

    /// A 20-byte IPv4 header with its checksum (TTL 64, don't-fragment set, no options).
    private static func ipHeader(from source: IPv4Address, to destination: IPv4Address, protocol proto: UInt8, payloadLength: Int) -> [UInt8] {
        var header: [UInt8] = [0x45, 0]
        append16(&header, UInt16(headerLength + payloadLength))
        header += [0, 0, 0x40, 0, 64, proto, 0, 0]
        header += source.octets + destination.octets
        let checksum = fold(partialSum(header[...]))
        header[10] = UInt8(checksum >> 8)
        header[11] = UInt8(checksum & 0xFF)
        return header
    }

    /// The Internet checksum's running sum (RFC 1071): 16-bit big-endian words, an odd last byte padded.
    static func partialSum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var sum: UInt32 = 0
        var index = bytes.startIndex
        while index + 1 < bytes.endIndex {
            sum &+= UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.endIndex { sum &+= UInt32(bytes[index]) << 8 }
        return sum
    }

    /// Folds the carries in and complements: the checksum field's value.
    static func fold(_ sum: UInt32) -> UInt16 {
        var folded = sum
        while folded >> 16 != 0 { folded = (folded & 0xFFFF) + (folded >> 16) }
        return ~UInt16(folded)
    }

    private static func read16(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    private static func read32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(read16(bytes, offset)) << 16 | UInt32(read16(bytes, offset + 2))
    }

    private static func append16(_ bytes: inout [UInt8], _ value: UInt16) {
        bytes.append(UInt8(value >> 8))
        bytes.append(UInt8(value & 0xFF))
    }
}
