import Addressing
import BootConfig
import Commands
import ConsoleLog
import Processes

/// --config, --enclave-cid and --enclave-name: which boot JSON, and which enclave, for the
/// parent commands that need both (serve for ingress, stop for the control port).
struct EnclaveOptions: Sendable {
    static let options = [
        OptionSpec("--config", value: "path", help: "The boot JSON (the same file the enclave boots with)."),
        OptionSpec("--enclave-cid", value: "cid", help: "The enclave's CID (under ENCLAVE_INIT_VSOCK_DIR: 16 unless given)."),
        OptionSpec("--enclave-name", value: "name", help: "Find the enclave's CID with nitro-cli describe-enclaves."),
    ]

    let config: String?
    let enclaveCid: UInt32?
    let enclaveName: String?

    /// Which enclave the command means.
    enum Enclave: Equatable {
        case cid(UInt32)
        /// Looked up with nitro-cli when needed (its CID changes when it restarts).
        case named(String)
    }

    /// The one rule for every parent command: --enclave-cid, else --enclave-name, else — under
    /// the vsock emulation only — the enclave's CID there (16: what an enclave-init listens as
    /// in a shared ENCLAVE_INIT_VSOCK_DIR). On Nitro there is no default: an enclave's CID is
    /// given at launch, so nil.
    func enclave(emulated: Bool) -> Enclave? {
        if let enclaveCid { return .cid(enclaveCid) }
        if let enclaveName { return .named(enclaveName) }
        return emulated ? .cid(VsockEmulation.defaultEnclaveCID) : nil
    }

    init(_ arguments: ParsedArguments) throws(UsageError) {
        config = arguments.string("--config")
        enclaveCid = try arguments.value("--enclave-cid")
        enclaveName = arguments.string("--enclave-name")
        if enclaveCid != nil && enclaveName != nil {
            throw UsageError("--enclave-cid and --enclave-name exclude each other")
        }
        if let enclaveCid, !VsockLimits.cids.contains(Int64(enclaveCid)) {
            throw UsageError("--enclave-cid \(enclaveCid) is not a vsock CID (\(VsockLimits.cids.lowerBound)-\(VsockLimits.cids.upperBound))")
        }
    }

    /// The boot JSON (its `app` may be empty on the parent); an invalid one is printed with
    /// every error and ends the command with 78.
    func loadConfig() throws(CommandExit) -> (path: String, config: BootConfiguration) {
        let path = BootConfigLoader.resolvedPath(explicit: config)
        do {
            return (path, try BootConfigLoader.load(path: path, commandRequired: false))
        } catch {
            Console.error(error.description)
            throw CommandExit(InitExitCode.invalidConfig)
        }
    }
}
