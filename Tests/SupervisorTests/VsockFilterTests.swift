import CSupport
import Testing

/// The seccomp program that keeps the app off AF_VSOCK, run by a small interpreter of the
/// instructions it uses against calls from each ABI an x86_64 kernel runs. (The sandbox tests
/// run it in the real kernel for x86_64; i386 and x32 code cannot be built here.)
@Suite struct VsockFilterTests {
    static let auditX86_64: UInt32 = 0xC000_003E
    static let auditI386: UInt32 = 0x4000_0003
    static let allow: UInt32 = 0x7FFF_0000
    static let refuseWithEACCES: UInt32 = 0x0005_0000 | 13

    /// Runs the program on a seccomp_data (nr, arch, instruction pointer, six arguments).
    static func run(nr: UInt32, arch: UInt32, args: [UInt64]) -> UInt32? {
        var data = [UInt8](repeating: 0, count: 64)
        func put32(_ value: UInt32, at offset: Int) { for byte in 0..<4 { data[offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(byte))) } }
        put32(nr, at: 0)
        put32(arch, at: 4)
        for (index, argument) in args.enumerated() {
            put32(UInt32(truncatingIfNeeded: argument), at: 16 + 8 * index)
            put32(UInt32(truncatingIfNeeded: argument >> 32), at: 20 + 8 * index)
        }
        var count = 0
        guard let program = ei_vsock_filter(&count) else { return nil }
        var accumulator: UInt32 = 0
        var pc = 0
        while pc < count {
            let instruction = program[pc]
            switch instruction.code {
            case 0x20: // BPF_LD | BPF_W | BPF_ABS
                let offset = Int(instruction.k)
                guard offset + 4 <= data.count else { return nil }
                accumulator = (0..<4).reduce(0) { $0 | UInt32(data[offset + $1]) << (8 * UInt32($1)) }
                pc += 1
            case 0x15: // BPF_JMP | BPF_JEQ | BPF_K
                pc += 1 + Int(accumulator == instruction.k ? instruction.jt : instruction.jf)
            case 0x06: // BPF_RET | BPF_K
                return instruction.k
            default:
                Issue.record("instruction \(pc) has code \(instruction.code), which this test does not interpret")
                return nil
            }
        }
        Issue.record("the program ran off its end")
        return nil
    }

    @Test func x86_64SocketsAreRefusedOnlyForVsock() {
        #expect(Self.run(nr: 41, arch: Self.auditX86_64, args: [40, 1, 0]) == Self.refuseWithEACCES)
        #expect(Self.run(nr: 41, arch: Self.auditX86_64, args: [2, 1, 0]) == Self.allow)   // AF_INET
        #expect(Self.run(nr: 41, arch: Self.auditX86_64, args: [1, 1, 0]) == Self.allow)   // AF_UNIX
        #expect(Self.run(nr: 41, arch: Self.auditX86_64, args: [10, 2, 0]) == Self.allow)  // AF_INET6
        #expect(Self.run(nr: 42, arch: Self.auditX86_64, args: [40]) == Self.allow)        // connect(40, ...)
        #expect(Self.run(nr: 0, arch: Self.auditX86_64, args: [40]) == Self.allow)         // read
        // Only the low 32 bits are the family (int): high bits set do not slip past.
        #expect(Self.run(nr: 41, arch: Self.auditX86_64, args: [0x1_0000_0028]) == Self.refuseWithEACCES)
    }

    @Test func x32AndI386CannotGoAround() {
        #expect(Self.run(nr: 41 | 0x4000_0000, arch: Self.auditX86_64, args: [40]) == Self.refuseWithEACCES)
        #expect(Self.run(nr: 41 | 0x4000_0000, arch: Self.auditX86_64, args: [2]) == Self.allow)
        #expect(Self.run(nr: 359, arch: Self.auditI386, args: [40, 1, 0]) == Self.refuseWithEACCES)
        #expect(Self.run(nr: 359, arch: Self.auditI386, args: [2, 1, 0]) == Self.allow)
        // socketcall(SYS_SOCKET, args): the family is in memory the filter cannot read.
        #expect(Self.run(nr: 102, arch: Self.auditI386, args: [1, 0xFFFF_0000]) == Self.refuseWithEACCES)
        #expect(Self.run(nr: 102, arch: Self.auditI386, args: [3, 0xFFFF_0000]) == Self.allow) // SYS_CONNECT
        #expect(Self.run(nr: 3, arch: Self.auditI386, args: [40]) == Self.allow)
    }
}
