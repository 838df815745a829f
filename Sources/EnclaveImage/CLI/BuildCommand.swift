import Commands
import ConsoleLog
import DocumentReading
import Glibc

/// `enclave-init build`: an enclave image (EIF) from a root filesystem directory, without Docker
/// or nitro-cli, with the PCRs it will be measured to. The same inputs give the same bytes.
public struct BuildCommand: Command {
    public static let spec = CommandSpec(
        name: "build",
        abstract: "Build an enclave image (EIF) from a container image or a root filesystem directory and print its PCR0-2.",
        discussion: """
        --image: an OCI image layout directory, an OCI archive, a docker save archive (layers applied in \
        order, whiteouts honoured, every digest checked), or a plain root filesystem directory.
        Two layouts. With --blobs DIR (the aws-nitro-enclaves-cli package's blobs: bzImage, cmdline, init, \
        nsm.ko), nitro-cli's: AWS's init runs the command given after -- (else the image's CMD, else its \
        ENTRYPOINT) with --env (else the image's ENV) from rootfs/. With --kernel \
        FILE, enclave-init itself is the kernel's init (this binary, or --init FILE) and boots the image's own \
        /etc/enclave-init/boot.json; PCR1 then measures the kernel, the cmdline and enclave-init, so changing \
        the app moves PCR2 only.
        Reproducible: entries are sorted, every mtime and the metadata's build time are $SOURCE_DATE_EPOCH (or \
        --source-date-epoch, else 0) unless --keep-mtimes.
        Before it writes anything it checks that the image can boot: the kernel is a bzImage; with --kernel \
        the image has the boot JSON (at ENCLAVE_INIT_CONFIG= on --cmdline, else /etc/enclave-init/boot.json) and \
        `check` accepts it; the command that will run is in the image and executable.
        Exit codes: 0 built; 65 an input is not what it should be, or the image could not boot; 66 an input \
        cannot be read; 73 the output cannot be written; 64 a usage error.
        """,
        options: [imageOptions[0],
            OptionSpec("--output", value: "file", help: "The .eif to write, replaced only once complete (required)."),
        ] + imageOptions.dropFirst() + [
            OptionSpec("--name", value: "name", help: "The image name in the metadata (default: the output's file name)."),
            OptionSpec("--measurements", value: "file", help: "Also write the PCRs as JSON (nitro-cli's Measurements object) here."),
        ],
        commandAfterTerminator: ArgumentSpec("command", help: "With --blobs: the image's command, run by AWS's init.")
    )

    /// The options that say which image and layout to build: `build`'s, and `verify --image`'s
    /// (which rebuilds and compares).
    public static let imageOptions: [OptionSpec] = [
        OptionSpec("--image", value: "path[:tag]", help: "A root filesystem directory, an OCI image layout, an OCI archive or a docker save archive (required); :TAG chooses one of several images in it."),
        OptionSpec("--blobs", value: "dir", help: "nitro-cli's layout, with AWS's kernel, cmdline, init and nsm.ko from this directory."),
        OptionSpec("--kernel", value: "file", help: "enclave-init's layout, with this kernel (bzImage)."),
        OptionSpec("--cmdline", value: "text", help: "The kernel command line for --kernel (default: \(ImageLayout.enclaveInitCmdline))."),
        OptionSpec("--nsm-ko", value: "file", help: "With --kernel: the NSM driver module, loaded by enclave-init from /nsm.ko."),
        OptionSpec("--kernel-modules", value: "dir", help: "With --kernel, for a modular kernel: its unpacked package (dpkg-deb -x linux-image-….deb DIR) or lib/modules/VERSION; virtio-mmio, vsock and the NSM driver with their dependencies go into the image with /modules_load_order, which enclave-init loads."),
        OptionSpec("--init", value: "file", help: "With --kernel: the enclave-init binary to use as init (default: this one)."),
        OptionSpec("--env", value: "key=value", repeatable: true, help: "With --blobs: the image's environment, one per --env."),
        OptionSpec("--source-date-epoch", value: "seconds", help: "The time of every entry and of the metadata (default: $SOURCE_DATE_EPOCH, else 0)."),
        OptionSpec("--keep-mtimes", help: "Keep each file's own mtime (the PCRs then change when files are touched)."),
    ]

    static let invalidInput: Int32 = 65
    static let unreadable: Int32 = 66
    static let cannotWrite: Int32 = 73

    let builder: ImageBuilder
    let output: String
    let measurementsPath: String?

    public init(_ arguments: ParsedArguments) throws(UsageError) {
        guard let output = arguments.string("--output") else { throw UsageError("--output <file> is required: where the .eif goes") }
        var builder = try Self.imageBuilder(arguments)
        let fileName = output.split(separator: "/").last.map(String.init) ?? output
        builder.imageName = arguments.string("--name") ?? (fileName.hasSuffix(".eif") ? String(fileName.dropLast(4)) : fileName)
        self.builder = builder
        self.output = output
        measurementsPath = arguments.string("--measurements")
    }

    /// The builder that `imageOptions` describe (the image name left to the caller).
    public static func imageBuilder(_ arguments: ParsedArguments) throws(UsageError) -> ImageBuilder {
        guard let given = arguments.string("--image") else { throw UsageError("--image <path> is required: a container image or a root filesystem directory") }
        let (image, tag) = Self.imageAndTag(given)
        let layout: ImageLayout
        switch (arguments.string("--blobs"), arguments.string("--kernel")) {
        case (let blobs?, nil):
            for option in ["--cmdline", "--nsm-ko", "--init", "--kernel-modules"] where arguments.string(option) != nil {
                throw UsageError("\(option) goes with --kernel; with --blobs the kernel, cmdline, init and nsm.ko come from the blobs directory")
            }
            layout = .nitroCLI(blobs: blobs)
        case (nil, let kernel?):
            guard arguments.afterTerminator.isEmpty, arguments.strings("--env").isEmpty else {
                throw UsageError("with --kernel, enclave-init is the init and the image's boot JSON says what to run: no command after -- and no --env")
            }
            layout = .enclaveInit(kernel: kernel, cmdline: arguments.string("--cmdline") ?? ImageLayout.enclaveInitCmdline,
                                  nsmModule: arguments.string("--nsm-ko"), initBinary: arguments.string("--init") ?? "/proc/self/exe",
                                  kernelModules: arguments.string("--kernel-modules"))
        case (nil, nil):
            throw UsageError("choose a layout: --blobs DIR (nitro-cli's, AWS's init) or --kernel FILE (enclave-init as init)")
        case (_?, _?):
            throw UsageError("--blobs and --kernel are two layouts; give one")
        }
        for variable in arguments.strings("--env") {
            guard let equals = variable.firstIndex(of: "="), equals != variable.startIndex, !variable.contains("\n") else {
                throw UsageError("--env \(variable): not KEY=value")
            }
        }
        var builder = ImageBuilder(rootfs: image, layout: layout)
        builder.tag = tag
        builder.command = arguments.afterTerminator
        builder.environment = arguments.strings("--env")
        builder.keepMtimes = arguments.flag("--keep-mtimes")
        let epochText = arguments.string("--source-date-epoch") ?? getenv("SOURCE_DATE_EPOCH").map { String(cString: $0) }
        if let epochText {
            guard let epoch = UInt32(epochText) else { throw UsageError("source date epoch \(epochText): not whole seconds since 1970 (0 to 4294967295)") }
            builder.epoch = epoch
        }
        return builder
    }

    /// `--image PATH:TAG`: a path that does not exist as given is split at the first colon
    /// before which the path exists ("two.tar:localhost/app:v1" is two.tar, tag
    /// localhost/app:v1); anything else is a path as it is.
    static func imageAndTag(_ given: String) -> (path: String, tag: String?) {
        guard access(given, F_OK) != 0 else { return (given, nil) }
        for colon in given.indices where given[colon] == ":" {
            let path = String(given[..<colon]), tag = String(given[given.index(after: colon)...])
            if !path.isEmpty, !tag.isEmpty, access(path, F_OK) == 0 { return (path, tag) }
        }
        return (given, nil)
    }

    public func run() throws {
        let result: EIFWriter.Result
        do {
            result = try builder.write(to: output)
        } catch {
            Console.error("build: \(error)")
            switch error {
            case .cannotOpen(let path, _) where path.hasPrefix(output), .io(let path, _, _) where path.hasPrefix(output):
                throw CommandExit(Self.cannotWrite)
            case .cannotOpen, .io: throw CommandExit(Self.unreadable)
            default: throw CommandExit(Self.invalidInput)
            }
        }
        let measurements = JSONOutput.object([("Measurements", result.measurements.json)])
        print(measurements.rendered())
        Console.error("build: wrote \(output), \(result.size) bytes, CRC 0x\(String(result.crc, radix: 16))")
        if let measurementsPath {
            let text = measurements.rendered() + "\n"
            let descriptor = open(measurementsPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard descriptor >= 0, text.withCString({ write(descriptor, $0, strlen($0)) }) == text.utf8.count else {
                Console.error("build: cannot write \(measurementsPath): \(String(cString: strerror(errno)))")
                throw CommandExit(Self.cannotWrite)
            }
            close(descriptor)
        }
    }
}
