import DocumentReading
import Glibc
import NIOConcurrencyHelpers
import Processes

/// Finds a running enclave's CID by name with `nitro-cli describe-enclaves`, for ingress on
/// the parent. The CID changes whenever the enclave is started again, so it is looked up when
/// connections arrive, and kept for a few seconds so a burst of connections runs nitro-cli once.
final class EnclaveLocator: Sendable {
    let name: String
    private let command: [String]
    private let cacheFor: Duration
    private let timeout: Duration
    /// Held during a lookup: a burst of connections waits for one nitro-cli run.
    private let cached = NIOLockedValueBox<(cid: UInt32, at: ContinuousClock.Instant)?>(nil)

    init(name: String, command: [String] = ["nitro-cli", "describe-enclaves"], cacheFor: Duration = .seconds(5),
         timeout: Duration = .seconds(10)) {
        self.name = name
        self.command = command
        self.cacheFor = cacheFor
        self.timeout = timeout
    }

    /// Blocking: runs nitro-cli unless a recent answer is cached.
    func cid() throws -> UInt32 {
        try cached.withLockedValue { cache in
            if let hit = cache, ContinuousClock.now - hit.at < cacheFor { return hit.cid }
            let cid = try lookUp()
            cache = (cid, ContinuousClock.now)
            return cid
        }
    }

    /// Runs nitro-cli now, whatever is cached (the state watch wants today's answer).
    func lookUp() throws -> UInt32 {
        let output: CommandOutput.Result
        do {
            output = try CommandOutput.run(command, timeout: timeout)
        } catch {
            throw ParentError.cannotRunLookup(command: command.joined(separator: " "), error)
        }
        guard output.status == 0 else {
            throw ParentError.lookupFailed(command: command.joined(separator: " "), status: output.statusDescription, said: output.firstLines)
        }
        return try Self.cid(named: name, in: output.stdout)
    }

    /// The CID of the enclave called `name` in describe-enclaves' JSON array.
    static func cid(named name: String, in json: [UInt8]) throws -> UInt32 {
        let root: JSONNode
        do {
            root = try JSONParser.parse(json)
        } catch {
            throw ParentError.unreadableLookup("no JSON: \(error)")
        }
        guard case .array(let enclaves) = root.value else {
            throw ParentError.unreadableLookup("a \(root.value.typeName), not an array of enclaves")
        }
        var seen: [String] = []
        for enclave in enclaves {
            guard case .object(let members) = enclave.value else { continue }
            func field(_ key: String) -> JSONValue? { members.first { $0.key == key }?.value.value }
            guard case .string(let enclaveName)? = field("EnclaveName") else { continue }
            seen.append(enclaveName)
            guard enclaveName == name else { continue }
            if case .string(let state)? = field("State"), state != "RUNNING" {
                throw ParentError.enclaveNotRunning(name: name, state: state)
            }
            guard case .number(let number)? = field("EnclaveCID"), let cid = number.integer, (3...Int64(UInt32.max - 1)).contains(cid) else {
                throw ParentError.enclaveWithoutCID(name: name)
            }
            return UInt32(cid)
        }
        throw ParentError.noSuchEnclave(name: name, running: seen)
    }
}
