import Addressing

// DNS messages as RFC 1035 lays them out, only as far as the stub and the name table need
// them: the header, the one question, A/AAAA/CNAME answers, the EDNS0 UDP size. Written by
// hand because no package available here has a DNS codec (SwiftNIO has none) and the stub
// needs only this much; every read is bounds-checked, since both the app and the parent may
// send anything.

/// Record types the stub reads or writes.
public enum DNSType {
    public static let a: UInt16 = 1
    public static let cname: UInt16 = 5
    public static let aaaa: UInt16 = 28
    public static let opt: UInt16 = 41
}

/// Response codes the stub sends.
public enum DNSResponseCode: UInt8, Sendable {
    case noError = 0
    case formatError = 1
    case serverFailure = 2
    case nameError = 3
    case notImplemented = 4
    case refused = 5
}

/// What the stub reads of a query, or the question of an answer.
public struct DNSQuestion: Sendable, Hashable {
    /// Lower case, without the trailing dot ("" for the root).
    public var name: String
    public var type: UInt16
    public var recordClass: UInt16
}

/// A parsed message: the header fields the stub uses, the question, and where it ends.
public struct DNSMessage: Sendable {
    public static let headerLength = 12
    /// The largest message DNS-over-TCP framing can carry.
    public static let maximumLength = 65_535

    public var id: UInt16
    public var flags: UInt16
    public var question: DNSQuestion
    /// The question section as it was sent (copied into answers verbatim).
    public var questionBytes: ArraySlice<UInt8>
    public var answerCount: Int
    public var authorityCount: Int
    public var additionalCount: Int
    /// The whole message.
    public var bytes: [UInt8]

    public var isResponse: Bool { flags & 0x8000 != 0 }
    public var opcode: UInt8 { UInt8((flags >> 11) & 0x0F) }
    public var responseCode: UInt8 { UInt8(flags & 0x000F) }
    public var recursionDesired: Bool { flags & 0x0100 != 0 }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        case tooShort(Int)
        case tooLong(Int)
        /// Not exactly one question (the stub answers one question per message, as every resolver asks).
        case questionCount(Int)
        case badName(offset: Int)
        case truncated(offset: Int)
        /// A query's question that is compressed, or has a "." inside a label: nothing to point
        /// back to in a query but the header, and a name the policy reads one way and a
        /// resolver another (parseQuery).
        case unplainQuestion(offset: Int)

        public var description: String {
            switch self {
            case .tooShort(let count): return "\(count) bytes is shorter than a DNS header"
            case .tooLong(let count): return "\(count) bytes is longer than a DNS message"
            case .questionCount(let count): return "\(count) questions (one expected)"
            case .badName(let offset): return "a malformed name at byte \(offset)"
            case .truncated(let offset): return "the message ends inside a field at byte \(offset)"
            case .unplainQuestion(let offset): return "the question's name is compressed or has a dot inside a label at byte \(offset)"
            }
        }
    }

    /// Parses the header and the single question.
    public static func parse(_ bytes: [UInt8]) -> Result<DNSMessage, ParseError> {
        guard bytes.count >= headerLength else { return .failure(.tooShort(bytes.count)) }
        guard bytes.count <= maximumLength else { return .failure(.tooLong(bytes.count)) }
        let questions = Int(bytes.uint16(at: 4))
        guard questions == 1 else { return .failure(.questionCount(questions)) }
        switch readName(bytes, at: headerLength) {
        case .failure(let error): return .failure(error)
        case .success(let (name, next)):
            guard next + 4 <= bytes.count else { return .failure(.truncated(offset: next)) }
            let question = DNSQuestion(name: name, type: bytes.uint16(at: next), recordClass: bytes.uint16(at: next + 2))
            return .success(DNSMessage(id: bytes.uint16(at: 0), flags: bytes.uint16(at: 2), question: question,
                                       questionBytes: bytes[headerLength..<(next + 4)],
                                       answerCount: Int(bytes.uint16(at: 6)), authorityCount: Int(bytes.uint16(at: 8)),
                                       additionalCount: Int(bytes.uint16(at: 10)), bytes: bytes))
        }
    }

    /// A query as both halves take it before judging its name: parsed as `parse` does, and its
    /// question written plainly — labels only, no compression pointer, no "." inside a label —
    /// so that the name the policy judges is the only one a resolver can read from it. (A
    /// pointer into the header would name whatever the id is rewritten to on the way out.)
    public static func parseQuery(_ bytes: [UInt8]) -> Result<DNSMessage, ParseError> {
        let message: DNSMessage
        switch parse(bytes) {
        case .failure(let error): return .failure(error)
        case .success(let parsed): message = parsed
        }
        var offset = headerLength
        while bytes[offset] != 0 {
            let length = Int(bytes[offset])
            // parse() accepted the name, so every label is within the message; a pointer is not.
            guard length & 0xC0 == 0, !bytes[(offset + 1)...(offset + length)].contains(UInt8(ascii: ".")) else {
                return .failure(.unplainQuestion(offset: offset))
            }
            offset += 1 + length
        }
        return .success(message)
    }

    /// The query as it leaves this half, written anew: a header with `id`, the query's opcode
    /// and its RD, AD and CD bits, one question (its own bytes, plain since parseQuery), and
    /// an EDNS0 OPT record with the sender's UDP size and DO bit when it had one. Nothing else
    /// the app put in the message (other records, EDNS options) goes on: none is needed to
    /// resolve, and each could carry data out.
    public func forwardable(id: UInt16) -> [UInt8] {
        let edns = ednsRecord()
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerLength + questionBytes.count + 11)
        out.appendUInt16(id)
        out.appendUInt16(flags & 0x7930)
        out.appendUInt16(1)
        out.appendUInt16(0)
        out.appendUInt16(0)
        out.appendUInt16(edns == nil ? 0 : 1)
        out.append(contentsOf: questionBytes)
        if let edns {
            out.append(0) // the root name
            out.appendUInt16(DNSType.opt)
            out.appendUInt16(UInt16(edns.udpSize))
            out.appendUInt16(0) // extended RCODE and version 0
            out.appendUInt16(edns.dnssecOK ? 0x8000 : 0)
            out.appendUInt16(0) // no options
        }
        return out
    }

    /// The id of any message of at least a header's length (to answer FORMERR to the sender).
    public static func id(of bytes: [UInt8]) -> UInt16? {
        bytes.count >= headerLength ? bytes.uint16(at: 0) : nil
    }

    /// A name at `offset`: its text and the offset after it (after the first pointer, if any).
    /// Pointers must point backwards, so a loop cannot be built; at most 255 bytes of name.
    static func readName(_ bytes: [UInt8], at start: Int) -> Result<(String, Int), ParseError> {
        var labels: [String] = []
        var offset = start
        var next: Int?
        var length = 0
        var lowestPointer = start
        while true {
            guard offset < bytes.count else { return .failure(.truncated(offset: offset)) }
            let byte = bytes[offset]
            switch byte & 0xC0 {
            case 0x00:
                if byte == 0 {
                    return .success((labels.joined(separator: "."), next ?? offset + 1))
                }
                let end = offset + 1 + Int(byte)
                guard end <= bytes.count else { return .failure(.truncated(offset: offset)) }
                length += Int(byte) + 1
                guard length <= 255 else { return .failure(.badName(offset: offset)) }
                labels.append(String(decoding: bytes[(offset + 1)..<end].map(asciiLowercased), as: UTF8.self))
                offset = end
            case 0xC0:
                guard offset + 1 < bytes.count else { return .failure(.truncated(offset: offset)) }
                let target = Int(bytes.uint16(at: offset) & 0x3FFF)
                guard target < lowestPointer else { return .failure(.badName(offset: offset)) }
                lowestPointer = target
                if next == nil { next = offset + 2 }
                offset = target
            default:
                return .failure(.badName(offset: offset)) // 0x40 and 0x80: reserved label types
            }
        }
    }

    private static func asciiLowercased(_ byte: UInt8) -> UInt8 { (65...90).contains(byte) ? byte + 32 : byte }

    // MARK: - Answers

    /// A record of the answer section, as far as the name table needs it.
    public enum Record: Sendable, Equatable {
        case ipv4(name: String, IPv4Address, ttl: UInt32)
        case ipv6(name: String, [UInt8], ttl: UInt32)
        case cname(name: String, target: String, ttl: UInt32)
    }

    /// The A, AAAA and CNAME records of the answer section; nil when it is malformed.
    public func answerRecords() -> [Record]? {
        var offset = Self.headerLength + questionBytes.count
        var records: [Record] = []
        for _ in 0..<answerCount {
            guard case .success(let (name, next)) = Self.readName(bytes, at: offset), next + 10 <= bytes.count else { return nil }
            let type = bytes.uint16(at: next), recordClass = bytes.uint16(at: next + 2)
            let ttl = UInt32(bytes.uint16(at: next + 4)) << 16 | UInt32(bytes.uint16(at: next + 6))
            let dataLength = Int(bytes.uint16(at: next + 8))
            let data = next + 10
            guard data + dataLength <= bytes.count else { return nil }
            if recordClass == 1 {
                switch type {
                case DNSType.a where dataLength == 4:
                    records.append(.ipv4(name: name, IPv4Address(bytes[data..<data + 4].reduce(0) { $0 << 8 | UInt32($1) }), ttl: ttl))
                case DNSType.aaaa where dataLength == 16:
                    records.append(.ipv6(name: name, Array(bytes[data..<data + 16]), ttl: ttl))
                case DNSType.cname:
                    guard case .success(let (target, _)) = Self.readName(bytes, at: data) else { return nil }
                    records.append(.cname(name: name, target: target, ttl: ttl))
                default:
                    break
                }
            }
            offset = data + dataLength
        }
        return records
    }

    /// Where each resource record's TTL is, and its type, over the answer, authority and
    /// additional sections; nil when a section is malformed.
    func recordTTLOffsets() -> [(offset: Int, type: UInt16)]? {
        var offset = Self.headerLength + questionBytes.count
        var found: [(offset: Int, type: UInt16)] = []
        for _ in 0..<(answerCount + authorityCount + additionalCount) {
            guard case .success(let (_, next)) = Self.readName(bytes, at: offset), next + 10 <= bytes.count else { return nil }
            let end = next + 10 + Int(bytes.uint16(at: next + 8))
            guard end <= bytes.count else { return nil }
            found.append((next + 4, bytes.uint16(at: next)))
            offset = end
        }
        return found
    }

    /// The smallest TTL of the answer section (nil: no answers, or malformed).
    public func minimumAnswerTTL() -> UInt32? {
        guard answerCount > 0, let records = recordTTLOffsets() else { return nil }
        return records.prefix(answerCount).map { UInt32(bytes.uint16(at: $0.offset)) << 16 | UInt32(bytes.uint16(at: $0.offset + 2)) }.min()
    }

    /// The message as it should be served `seconds` after it arrived, to a query with `id`:
    /// every TTL lowered by that much (never below 0; the EDNS0 OPT record's field is not a TTL).
    public func aged(by seconds: UInt32, id: UInt16) -> [UInt8] {
        var out = bytes
        out[0] = UInt8(id >> 8)
        out[1] = UInt8(id & 0xFF)
        for record in recordTTLOffsets() ?? [] where record.type != DNSType.opt {
            let ttl = UInt32(bytes.uint16(at: record.offset)) << 16 | UInt32(bytes.uint16(at: record.offset + 2))
            let left = ttl > seconds ? ttl - seconds : 0
            out[record.offset] = UInt8(left >> 24)
            out[record.offset + 1] = UInt8((left >> 16) & 0xFF)
            out[record.offset + 2] = UInt8((left >> 8) & 0xFF)
            out[record.offset + 3] = UInt8(left & 0xFF)
        }
        return out
    }

    /// Whether the query carries an EDNS0 OPT record (its answers may carry one too).
    public var hasEDNS: Bool { acceptedUDPSizeOrNil() != nil }

    /// The UDP payload size the sender accepts: 512, or its EDNS0 OPT record's size (capped at 4096).
    public func acceptedUDPSize() -> Int { acceptedUDPSizeOrNil() ?? 512 }

    private func acceptedUDPSizeOrNil() -> Int? { ednsRecord()?.udpSize }

    /// The additional section's OPT record: the UDP size (512-4096) and the DO bit.
    private func ednsRecord() -> (udpSize: Int, dnssecOK: Bool)? {
        var offset = Self.headerLength + questionBytes.count
        for index in 0..<(answerCount + authorityCount + additionalCount) {
            guard case .success(let (_, next)) = Self.readName(bytes, at: offset), next + 10 <= bytes.count else { return nil }
            if index >= answerCount + authorityCount, bytes.uint16(at: next) == DNSType.opt {
                return (min(4096, max(512, Int(bytes.uint16(at: next + 2)))), bytes[next + 6] & 0x80 != 0)
            }
            offset = next + 10 + Int(bytes.uint16(at: next + 8))
        }
        return nil
    }

    // MARK: - Building answers

    /// A response to this query: the same id and question, `code`, and A records for `addresses`
    /// (answered by the stub itself: authoritative, recursion available).
    public func reply(_ code: DNSResponseCode, addresses: [IPv4Address] = [], ttl: UInt32 = 0) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerLength + questionBytes.count + addresses.count * 16)
        // QR, the query's opcode and RD, AA, RA, the code.
        let flags: UInt16 = 0x8000 | (self.flags & 0x7900) | 0x0400 | 0x0080 | UInt16(code.rawValue)
        out.appendUInt16(id)
        out.appendUInt16(flags)
        out.appendUInt16(1)
        out.appendUInt16(UInt16(addresses.count))
        out.appendUInt16(0)
        out.appendUInt16(0)
        out.append(contentsOf: questionBytes)
        for address in addresses {
            out.appendUInt16(0xC000 | UInt16(Self.headerLength)) // the name: a pointer to the question's
            out.appendUInt16(DNSType.a)
            out.appendUInt16(1)
            out.appendUInt16(UInt16(ttl >> 16))
            out.appendUInt16(UInt16(ttl & 0xFFFF))
            out.appendUInt16(4)
            out.append(contentsOf: address.octets)
        }
        return out
    }

    /// A header-only answer for a message whose question could not be read.
    public static func formatError(id: UInt16) -> [UInt8] {
        var out: [UInt8] = []
        out.appendUInt16(id)
        out.appendUInt16(0x8000 | 0x0080 | UInt16(DNSResponseCode.formatError.rawValue))
        out += [0, 0, 0, 0, 0, 0, 0, 0]
        return out
    }

    /// `response` cut to fit a UDP client: the header with TC set and the question, so the
    /// client asks again over TCP.
    public static func truncated(_ response: DNSMessage) -> [UInt8] {
        var out = Array(response.bytes[0..<headerLength])
        out[2] |= 0x02 // TC
        out[6] = 0; out[7] = 0; out[8] = 0; out[9] = 0; out[10] = 0; out[11] = 0
        return out + response.questionBytes
    }
}

extension Array where Element == UInt8 {
    func uint16(at offset: Int) -> UInt16 { UInt16(self[offset]) << 8 | UInt16(self[offset + 1]) }

    mutating func appendUInt16(_ value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(value & 0xFF))
    }
}
