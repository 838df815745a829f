import Addressing

/// DNS messages built by the tests, independently of the module's own encoder.
enum DNSWire {
    static func name(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        for label in text.split(separator: ".") {
            out.append(UInt8(label.utf8.count))
            out += Array(label.utf8)
        }
        return out + [0]
    }

    static func u16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    static func u32(_ value: UInt32) -> [UInt8] { u16(UInt16(value >> 16)) + u16(UInt16(value & 0xFFFF)) }

    /// A standard query with RD set, optionally with an EDNS0 OPT record.
    static func query(id: UInt16 = 0x1234, _ name: String, type: UInt16 = 1, recordClass: UInt16 = 1, ednsSize: UInt16? = nil) -> [UInt8] {
        var out = u16(id) + u16(0x0100) + u16(1) + u16(0) + u16(0) + u16(ednsSize == nil ? 0 : 1)
        out += Self.name(name) + u16(type) + u16(recordClass)
        if let ednsSize { out += [0] + u16(41) + u16(ednsSize) + u32(0) + u16(0) }
        return out
    }

    /// A response to `query` with the given answer records (name as a pointer to the question).
    static func response(to query: [UInt8], code: UInt16 = 0, records: [(type: UInt16, ttl: UInt32, data: [UInt8])]) -> [UInt8] {
        let questionEnd = 12 + questionLength(query)
        var out = Array(query[0..<2]) + u16(0x8180 | code) + u16(1) + u16(UInt16(records.count)) + u16(0) + u16(0)
        out += query[12..<questionEnd]
        for record in records {
            out += u16(0xC00C) + u16(record.type) + u16(1) + u32(record.ttl) + u16(UInt16(record.data.count)) + record.data
        }
        return out
    }

    static func questionLength(_ message: [UInt8]) -> Int {
        var offset = 12
        while message[offset] != 0 { offset += Int(message[offset]) + 1 }
        return offset + 1 + 4 - 12
    }

    static func a(_ text: String, ttl: UInt32 = 60) -> (type: UInt16, ttl: UInt32, data: [UInt8]) {
        (1, ttl, IPv4Address(text)!.octets)
    }
}
