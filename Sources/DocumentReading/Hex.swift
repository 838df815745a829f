/// Lower-case hex of bytes: digests and PCRs as every tool prints them (sha384sum, nitro-cli,
/// SigV4's canonical request, the attested ingress's fingerprints). Written once here.
public enum Hex {
    public static func string(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
