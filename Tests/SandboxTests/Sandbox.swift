import Foundation
import Testing
import TestSupport

/// Runs the static binary in fresh Linux namespaces. Needs root and the static build: run
/// these through scripts/test, which provides both (ENCLAVE_INIT_BINARY=dist/enclave-init).
enum Sandbox {
    /// How enclave-init runs in a test.
    enum Mode: String, CaseIterable, CustomStringConvertible {
        /// PID 1 of `unshare --pid --mount --fork`: a container's init, which mounts only missing
        /// pseudo filesystems and exits with the app's status (the initial namespace's PID 1,
        /// which powers off, is tested under qemu).
        case pid1
        /// An ordinary child of the test, as under AWS's init: a child subreaper that exits
        /// with the app's status.
        case subreaper

        var description: String { rawValue }
    }

    /// The static binary, after checking that this process can run sandboxes at all.
    static func staticBinary() throws -> String {
        try #require(getuid() == 0, "sandbox tests need root (Linux namespaces); run scripts/test")
        let binary = ProcessRunner.binary
        let ldd = try ProcessRunner.run("/usr/bin/ldd", [binary])
        try #require(ldd.status != 0, "\(binary) is dynamically linked; set ENCLAVE_INIT_BINARY to dist/enclave-init (scripts/build-static)")
        return binary
    }

    /// Scratch space shared with the sandboxes (outside /tmp, which a test may want to see as
    /// the image's own).
    static let scratchBase = "/var/tmp"

    /// Fresh network (only a down `lo`), mount and UTS namespaces, so that the network step
    /// never touches the machine's own lo, hostname or /etc/hosts.
    static let isolation = ["--net", "--mount", "--uts"]
    /// .pid1 adds a PID namespace; --mount-proc gives it its own /proc, as a container has.
    static let unshare = ["/usr/bin/unshare"] + isolation + ["--pid", "--fork", "--kill-child", "--mount-proc"]

    /// The argv that runs enclave-init ARGS in `mode`, inside fresh namespaces where a private
    /// copy of `hostsFile` is bind-mounted over /etc/hosts and `prelude` (shell) has run first.
    /// /etc/resolv.conf gets a private copy too (`resolvConf`, or a fresh one), so that a
    /// config with `dns` never writes the machine's own.
    static func command(_ mode: Mode, _ arguments: [String], hostsFile: String, resolvConf: String? = nil, prelude: String = "",
                        procOfItsOwn: Bool = true) throws -> [String] {
        let binary = try staticBinary()
        let resolver = try resolvConf ?? privateResolvConf()
        let script = "set -e; mount --bind \"$1\" /etc/hosts; mount --bind \"$2\" /etc/resolv.conf; shift 2; \(prelude)\nexec \"$@\""
        let wrapper = ["/bin/sh", "-c", script, "sandbox", hostsFile, resolver, binary] + arguments
        switch mode {
        case .pid1: return (procOfItsOwn ? unshare : unshare.filter { $0 != "--mount-proc" }) + wrapper
        case .subreaper: return ["/usr/bin/unshare"] + isolation + wrapper // unshare and sh exec: not PID 1
        }
    }

    /// An empty root directory holding only the binary (as /enclave-init) and the given files.
    static func emptyRoot(files: [String: String]) throws -> TemporaryDirectory {
        let root = try TemporaryDirectory()
        try copyExecutable(try staticBinary(), to: root.path + "/enclave-init")
        for (name, contents) in files { try root.write(name, contents) }
        return root
    }

    /// Copies an executable through a close-on-exec descriptor: a plain copy's write descriptor
    /// leaks into processes that other tests fork meanwhile, and exec then fails with ETXTBSY.
    static func copyExecutable(_ source: String, to destination: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        let fd = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw POSIXError(.EACCES) }
        defer { close(fd) }
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                guard written > 0 else { throw POSIXError(.EIO) }
                offset += written
            }
        }
    }

    /// `chroot ROOT /enclave-init ARGS` as PID 1 of fresh namespaces: in a mount namespace of its
    /// own, with nothing mounted in ROOT.
    static func runAsPID1(in root: TemporaryDirectory, _ arguments: [String]) throws -> ProcessResult {
        var attempt = 0
        while true {
            let result = try ProcessRunner.run(unshare[0], Array(unshare.dropFirst()) + ["chroot", root.path, "/enclave-init"] + arguments,
                                               environment: baseEnvironment)
            // A process forked by a parallel test may still hold the new file open for a moment.
            guard result.stderr.contains("Text file busy"), attempt < 5 else { return result }
            attempt += 1
            usleep(50_000)
        }
    }

    /// The environment of every sandboxed run. ENCLAVE_INIT_VSOCK_DIR is always set, so that no
    /// test can reach real vsock even if a heartbeat or proxy decided wrongly to use it.
    static let baseEnvironment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "ENCLAVE_INIT_VSOCK_DIR": "/nonexistent/vsock"]

    /// A scratch folder for one suite and the emulated-vsock directory inside it
    /// (ENCLAVE_INIT_VSOCK_DIR for both halves).
    static func scratchWithVsockDirectory() throws -> (TemporaryDirectory, String) {
        let scratch = try TemporaryDirectory(base: scratchBase)
        let vsock = scratch.path + "/vsock"
        try FileManager.default.createDirectory(atPath: vsock, withIntermediateDirectories: true)
        return (scratch, vsock)
    }

    /// A private resolv.conf for one run, as an image built on a laptop would have it (a
    /// nameserver the enclave cannot reach: TEST-NET-1).
    static func privateResolvConf() throws -> String {
        try hostsFiles.write("resolv-\(UInt64.random(in: 0...UInt64.max))", "nameserver 192.0.2.53\noptions timeout:1 attempts:1\n")
    }

    /// A private hosts file for one run, as a fresh image would have it.
    static func privateHostsFile() throws -> String {
        try hostsFiles.write("hosts-\(UInt64.random(in: 0...UInt64.max))", "127.0.0.1 localhost\n")
    }

    /// Shared by every test of the run; a static is never released, so its directory is
    /// removed at exit (it was left behind under /var/tmp after each run).
    private static let hostsFiles: TemporaryDirectory = {
        let directory = try! TemporaryDirectory(base: scratchBase)
        atexit { try? FileManager.default.removeItem(atPath: Sandbox.hostsFiles.path) }
        return directory
    }()

    /// Starts `enclave-init ARGS` in the given mode, in the background.
    static func start(_ mode: Mode, _ arguments: [String], environment: [String: String] = [:], hostsFile: String? = nil,
                      resolvConf: String? = nil, prelude: String = "", procOfItsOwn: Bool = true) throws -> SpawnedProcess {
        var base = baseEnvironment
        base.merge(environment) { $1 }
        let argv = try command(mode, arguments, hostsFile: try hostsFile ?? privateHostsFile(), resolvConf: resolvConf, prelude: prelude,
                               procOfItsOwn: procOfItsOwn)
        return try SpawnedProcess(argv[0], Array(argv.dropFirst()), environment: base)
    }
    /// Starts `enclave-init parent ARGS` on the machine's own network (as on a parent instance),
    /// in a mount namespace of its own where `hostsFile` is /etc/hosts and the resolver asks
    /// 127.0.0.1 only: names resolve from the test's file, and no query leaves the machine.
    /// With `ownNetwork`, it gets a network namespace of its own too (only `lo`, up), where
    /// `prelude` can start the servers it should reach: nothing it dials can leave the machine.
    static func startParent(_ arguments: [String], hostsFile: String, environment: [String: String],
                            ownNetwork: Bool = false, prelude: String = "") throws -> SpawnedProcess {
        let binary = try staticBinary()
        let resolver = try hostsFiles.write("resolv-\(UInt64.random(in: 0...UInt64.max))", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        let network = ownNetwork ? "ip link set lo up; " : ""
        let script = "set -e; \(network)mount --bind \"$1\" /etc/hosts; mount --bind \"$2\" /etc/resolv.conf; shift 2; \(prelude)\nexec \"$@\""
        var base = baseEnvironment
        base.merge(environment) { $1 }
        let namespaces = ownNetwork ? ["--mount", "--net"] : ["--mount"]
        return try SpawnedProcess("/usr/bin/unshare", namespaces + ["/bin/sh", "-c", script, "parent", hostsFile, resolver, binary, "parent"] + arguments,
                                  environment: base)
    }

    /// The enclave-init process itself: the namespace's init for .pid1, the process for .subreaper.
    static func initPID(of process: SpawnedProcess, _ mode: Mode) -> pid_t? {
        mode == .subreaper ? process.pid : process.child(running: "enclave-init")
    }

    /// The exit code enclave-init reported in its last log line ("exiting"/"powering off").
    static func reportedExitCode(_ result: ProcessResult) -> Int32? {
        guard let range = result.stderr.range(of: "exit_code=", options: .backwards) else { return nil }
        return Int32(result.stderr[range.upperBound...].prefix { $0.isNumber })
    }

    /// Checks how the run ended: the reported code, and the process status. In both modes
    /// enclave-init exits with the app's status: as a nested PID namespace's PID 1 it is a
    /// container's init (like tini), and only the initial namespace's PID 1 powers off.
    static func expectEnded(_ result: ProcessResult?, _ mode: Mode, withCode code: Int32,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        guard let result else {
            Issue.record("enclave-init did not end in time", sourceLocation: sourceLocation)
            return
        }
        #expect(reportedExitCode(result) == code, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.status == code, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains("exiting exit_code=\(code)"), sourceLocation: sourceLocation)
        if mode == .pid1 {
            #expect(result.stderr.contains("pid-1: a container's init (PID 1 of a nested PID namespace)"), sourceLocation: sourceLocation)
        }
    }
}

extension TemporaryDirectory {
    /// A file a sandboxed app wrote under this directory, or "" when there is none.
    func text(_ relative: String) -> String {
        (try? String(contentsOfFile: path + "/" + relative, encoding: .utf8)) ?? ""
    }
}
