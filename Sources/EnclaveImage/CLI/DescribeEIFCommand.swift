import Commands
import ConsoleLog
import Glibc

/// `enclave-init describe-eif FILE`: what an enclave image holds and the PCRs it will be
/// measured to, computed from its bytes (the same pass checks the CRC). Like nitro-cli
/// describe-eif, without nitro-cli.
public struct DescribeEIFCommand: Command {
    public static let spec = CommandSpec(
        name: "describe-eif",
        abstract: "Describe an enclave image (EIF): version, sections, CRC check, PCR0-2, cmdline and metadata.",
        discussion: """
        The PCRs are computed from the image's bytes as the Nitro hypervisor measures them; with enclave-init's \
        layout also PCR16 (or measure.pcr), which enclave-init extends with the image's boot JSON at boot. --json prints \
        nitro-cli describe-eif's fields (EifVersion, Measurements, IsSigned, CheckCRC, ImageName, ImageVersion, \
        Metadata) and the sections.
        Exit codes: 0 described; 65 the file is not a valid image (bad magic, truncated, a CRC mismatch, \
        sections that disagree); 66 it cannot be read; 64 a usage error.
        """,
        options: [OptionSpec("--json", help: "Print JSON instead of one fact a line.")],
        arguments: [ArgumentSpec("file", help: "The .eif file.")]
    )

    /// EX_DATAERR and EX_NOINPUT.
    static let invalidImage: Int32 = 65
    static let unreadable: Int32 = 66

    let path: String
    let json: Bool

    public init(_ arguments: ParsedArguments) throws(UsageError) {
        path = try arguments.argument(0)
        json = arguments.flag("--json")
    }

    public func run() throws {
        let description: EIFDescription
        do {
            description = try EIFDescription.read(path: path)
        } catch {
            printError("describe-eif: \(path): \(error)")
            switch error {
            case .cannotOpen, .io: throw CommandExit(Self.unreadable)
            default: throw CommandExit(Self.invalidImage)
            }
        }
        if json {
            print(description.json.rendered())
        } else {
            for line in description.lines { print(line) }
        }
        guard description.crcMatches else {
            printError("describe-eif: \(path): \(EIFError.crcMismatch(stored: description.header.crc, computed: description.computedCRC))")
            throw CommandExit(Self.invalidImage)
        }
    }

    private func printError(_ text: String) { Console.error(text) }
}
