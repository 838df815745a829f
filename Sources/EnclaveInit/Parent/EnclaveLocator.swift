import BootConfig
import CSupport
import Glibc
import NIOConcurrencyHelpers

/// Finds a running enclave's CID by name with `nitro-cli describe-enclaves`, for ingress on
/// the parent. The CID changes whenever the enclave is started again, so it is looked up when
/// connections arrive, and kept for a few seconds so a burst of connections runs nitro-cli once.
final class EnclaveLocator: Sendable {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

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

    private func lookUp() throws -> UInt32 {
        let output: CommandOutput.Result
        do {
            output = try CommandOutput.run(command, timeout: timeout)
        } catch {
            throw Failure(description: "cannot run \(command.joined(separator: " ")): \(error)")
        }
        guard output.status == 0 else {
            throw Failure(description: "\(command.joined(separator: " ")) failed (\(output.statusDescription)): \(output.firstLines)")
        }
        return try Self.cid(named: name, in: output.stdout)
    }

    /// The CID of the enclave called `name` in describe-enclaves' JSON array.
    static func cid(named name: String, in json: [UInt8]) throws -> UInt32 {
        let root: JSONNode
        do {
            root = try JSONParser.parse(json)
        } catch {
            throw Failure(description: "nitro-cli describe-enclaves printed no JSON: \(error)")
        }
        guard case .array(let enclaves) = root.value else {
            throw Failure(description: "nitro-cli describe-enclaves printed a \(root.value.typeName), not an array of enclaves")
        }
        var seen: [String] = []
        for enclave in enclaves {
            guard case .object(let members) = enclave.value else { continue }
            func field(_ key: String) -> JSONValue? { members.first { $0.key == key }?.value.value }
            guard case .string(let enclaveName)? = field("EnclaveName") else { continue }
            seen.append(enclaveName)
            guard enclaveName == name else { continue }
            if case .string(let state)? = field("State"), state != "RUNNING" {
                throw Failure(description: "enclave \(name) is \(state), not RUNNING")
            }
            guard case .number(let number)? = field("EnclaveCID"), let cid = number.integer, (3...Int64(UInt32.max - 1)).contains(cid) else {
                throw Failure(description: "enclave \(name) has no valid EnclaveCID in nitro-cli's answer")
            }
            return UInt32(cid)
        }
        let running = seen.isEmpty ? "no enclaves are running" : "running: \(seen.joined(separator: ", "))"
        throw Failure(description: "no enclave named \(name) (\(running))")
    }
}

/// Runs a command to completion and collects its output (posix_spawn: safe with threads running).
enum CommandOutput {
    struct Result {
        var status: Int32
        var stdout: [UInt8]
        var stderr: [UInt8]

        var statusDescription: String { "exit status \(status)" }
        /// What the command said, for an error message.
        var firstLines: String {
            let text = String(decoding: stderr.isEmpty ? stdout : stderr, as: UTF8.self)
            return text.split(separator: "\n").prefix(3).joined(separator: " / ")
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func run(_ command: [String], timeout: Duration = .seconds(10)) throws -> Result {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else {
            throw Failure(description: String(cString: strerror(errno)))
        }
        // Callers serialise runs (EnclaveLocator's lock), so no other spawn sees these ends.
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), defaults = sigset_t()
        sigemptyset(&empty)
        sigfillset(&defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let argv = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let spawned = posix_spawnp(&pid, command[0], &actions, &attributes, argv, environ)
        close(outPipe[1])
        close(errPipe[1])
        defer { close(outPipe[0]); close(errPipe[0]) }
        guard spawned == 0 else { throw Failure(description: String(cString: strerror(spawned))) }
        // Both pipes are read as output comes, until both end or the deadline passes: a
        // nitro-cli that hangs must not hold the ingress connections waiting for it.
        var output: [[UInt8]] = [[], []]
        var open = [outPipe[0], errPipe[0]]
        let deadline = ContinuousClock.now + timeout
        var chunk = [UInt8](repeating: 0, count: 65536)
        while open.contains(where: { $0 >= 0 }) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                kill(pid, SIGKILL)
                var ignored: Int32 = 0
                while waitpid(pid, &ignored, 0) < 0 && errno == EINTR {}
                let milliseconds = timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
                throw Failure(description: "it did not finish within \(milliseconds) ms (killed)")
            }
            var polled = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let milliseconds = Int32(min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1, 1000))
            guard poll(&polled, nfds_t(polled.count), milliseconds) >= 0 || errno == EINTR else { break }
            for index in polled.indices where polled[index].fd >= 0 && polled[index].revents != 0 {
                let count = read(polled[index].fd, &chunk, chunk.count)
                if count > 0 { output[index] += chunk[0..<count] } else if count == 0 || errno != EINTR { open[index] = -1 }
            }
        }
        let stdout = output[0], stderr = output[1]
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = ei_wifexited(status) != 0 ? ei_wexitstatus(status) : 128 + ei_wtermsig(status)
        return Result(status: code, stdout: stdout, stderr: stderr)
    }
}
