import DocumentReading

/// PCR0, PCR1 and PCR2 of an image, as the Nitro hypervisor (and QEMU's nitro-enclave machine)
/// measure it: each is one extend from zero, SHA-384(48 zero bytes || SHA-384(data)), where
/// PCR0's data is the kernel, the cmdline and every ramdisk in order; PCR1's the kernel, the
/// cmdline and the first ramdisk; PCR2's the other ramdisks. The metadata is not measured.
public struct Measurements: Sendable, Equatable {
    public var pcr0: [UInt8]
    public var pcr1: [UInt8]
    public var pcr2: [UInt8]
    /// With enclave-init's layout: the PCR the image's boot JSON is measured into at boot and
    /// the value it will read (SHA384(48 zero bytes ‖ SHA384(boot JSON))); nil for nitro-cli's.
    public var config: ConfigPCR?

    public struct ConfigPCR: Sendable, Equatable {
        public var index: Int
        public var value: [UInt8]
    }

    static func extendFromZero(_ digest: [UInt8]) -> [UInt8] {
        SHA384.hash([UInt8](repeating: 0, count: SHA384.digestBytes) + digest)
    }

    public static func hex(_ bytes: [UInt8]) -> String { Hex.string(bytes) }

    /// nitro-cli's `Measurements` object, so that tools reading its output read ours.
    public var json: JSONOutput {
        .object([("HashAlgorithm", .string("Sha384 { ... }")), ("PCR0", .string(Self.hex(pcr0))),
                 ("PCR1", .string(Self.hex(pcr1))), ("PCR2", .string(Self.hex(pcr2)))]
                + (config.map { [("PCR\($0.index)", JSONOutput.string(Self.hex($0.value)))] } ?? []))
    }
}

/// The three running hashes, fed section by section as the bytes go past (written or read).
struct Measurer {
    private var image = SHA384()     // PCR0
    private var bootstrap = SHA384() // PCR1
    private var app = SHA384()       // PCR2
    private var ramdisks = 0
    private var current: EIFSectionType?

    mutating func begin(_ type: EIFSectionType) {
        current = type
        if type == .ramdisk { ramdisks += 1 }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch current {
        case .kernel, .cmdline:
            image.update(bytes)
            bootstrap.update(bytes)
        case .ramdisk:
            image.update(bytes)
            if ramdisks == 1 { bootstrap.update(bytes) } else { app.update(bytes) }
        case .signature, .metadata, nil:
            break
        }
    }

    mutating func finish() -> Measurements {
        Measurements(pcr0: Measurements.extendFromZero(image.finish()), pcr1: Measurements.extendFromZero(bootstrap.finish()),
                     pcr2: Measurements.extendFromZero(app.finish()))
    }
}
