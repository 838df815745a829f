import Addressing
import NIOCore
import NIOEmbedded
import Testing
@testable import UDPEgress

/// The vsock stream's frames: each kind survives the trip byte for byte, split anywhere, and
/// what no peer may send closes the stream with a reason instead of being believed.
@Suite struct UDPFrameTests {
    let destination = UDPEndpoint(IPv4Address("198.18.0.53")!, 53)

    private func bytes(_ frames: [UDPFrame]) -> ByteBuffer {
        var buffer = ByteBuffer()
        for frame in frames { frame.write(to: &buffer) }
        return buffer
    }

    /// Feeds `buffer` to a decoder for `receiver`, `chunk` bytes at a time.
    private func decode(_ buffer: ByteBuffer, as receiver: UDPFrameDecoder.Receiver, chunk: Int = .max) throws -> [UDPFrame] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(UDPFrameDecoder(receiver: receiver)))
        var rest = buffer
        while rest.readableBytes > 0 {
            let piece = rest.readSlice(length: min(chunk, rest.readableBytes))!
            try channel.writeInbound(piece)
        }
        var frames: [UDPFrame] = []
        while let frame = try channel.readInbound(as: UDPFrame.self) { frames.append(frame) }
        _ = try? channel.finish()
        return frames
    }

    @Test func everyFrameOfTheEnclaveRoundTripsInPieces() throws {
        let big = ByteBuffer(bytes: (0..<IPv4Packet.maximumPayload).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let frames: [UDPFrame] = [.open(flow: 1, destination: destination, name: "ntp.example.test"), .datagram(flow: 1, payload: big),
                                  .open(flow: 2, destination: destination, name: ""), .datagram(flow: 2, payload: ByteBuffer()), .close(flow: 1)]
        for chunk in [1, 3, 7, 4096, Int.max] {
            #expect(try decode(bytes(frames), as: .parent, chunk: chunk) == frames, "chunk \(chunk)")
        }
    }

    @Test func everyFrameOfTheParentRoundTrips() throws {
        let frames: [UDPFrame] = [.datagram(flow: 9, payload: ByteBuffer(string: "answer")), .refused(flow: 3, reason: "egress policy (parent): no"),
                                  .unreachable(flow: 9), .close(flow: 9)]
        #expect(try decode(bytes(frames), as: .enclave, chunk: 5) == frames)
    }

    @Test func whatAPeerMayNotSendClosesTheStream() {
        var unknown = ByteBuffer()
        unknown.writeBytes([9, 0, 0, 0, 1, 0, 0])
        var oversized = ByteBuffer()
        oversized.writeBytes([2, 0, 0, 0, 1, 0xFF, 0xFF])
        var shortOpen = ByteBuffer()
        shortOpen.writeBytes([1, 0, 0, 0, 1, 0, 3, 1, 2, 3])
        var badName = ByteBuffer()
        badName.writeBytes([1, 0, 0, 0, 1, 0, 8, 198, 18, 0, 53, 0, 53, 5, 0x61]) // says 5 name bytes, has 1
        let cases: [(ByteBuffer, UDPFrameDecoder.Receiver, String)] = [
            (unknown, .parent, "unknown frame type 9"),
            (oversized, .enclave, "a 65535-byte datagram (at most 65507)"),
            (shortOpen, .parent, "an open frame of 3 bytes"),
            (badName, .parent, "an open frame whose name length does not match"),
            (bytes([.open(flow: 1, destination: destination, name: "")]), .enclave, "a frame the parent never sends (open)"),
            (bytes([.refused(flow: 1, reason: "x")]), .parent, "a frame the enclave never sends (refused)"),
        ]
        for (buffer, receiver, reason) in cases {
            #expect(throws: UDPFrame.ProtocolError(description: reason)) { try decode(buffer, as: receiver) }
        }
    }
}
