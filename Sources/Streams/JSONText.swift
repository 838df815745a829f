import NIOCore

/// JSON string literals written straight into a ByteBuffer. App output is not always valid
/// UTF-8: invalid sequences become U+FFFD, so that every record stays valid JSON.
enum JSONText {
    static func writeString(_ bytes: some Collection<UInt8>, into out: inout ByteBuffer) {
        out.writeInteger(UInt8(ascii: "\""))
        // ASCII without escapes is the common case: copied as is. Anything else goes through
        // String's repairing UTF-8 decoder first.
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x80 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            out.writeBytes(bytes)
        } else {
            let repaired = String(decoding: bytes, as: UTF8.self)
            for byte in repaired.utf8 { writeEscaped(byte, into: &out) }
        }
        out.writeInteger(UInt8(ascii: "\""))
    }

    private static let hex = Array("0123456789abcdef".utf8)

    private static func writeEscaped(_ byte: UInt8, into out: inout ByteBuffer) {
        switch byte {
        case UInt8(ascii: "\""): out.writeStaticString("\\\"")
        case UInt8(ascii: "\\"): out.writeStaticString("\\\\")
        case UInt8(ascii: "\n"): out.writeStaticString("\\n")
        case UInt8(ascii: "\r"): out.writeStaticString("\\r")
        case UInt8(ascii: "\t"): out.writeStaticString("\\t")
        case 0..<0x20:
            out.writeStaticString("\\u00")
            out.writeInteger(hex[Int(byte >> 4)])
            out.writeInteger(hex[Int(byte & 0xF)])
        default: out.writeInteger(byte)
        }
    }
}
