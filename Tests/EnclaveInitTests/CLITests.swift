import Addressing
import Foundation
import Testing
import TestSupport

/// The command line as users run it: the real binary, its output and its exit status.
@Suite struct CLITests {
    let directory: TemporaryDirectory
    init() throws { directory = try TemporaryDirectory() }

    @Test func helpNamesEveryCommandAndTheConfigPrecedence() throws {
        let result = try ProcessRunner.enclaveInit(["--help"])
        #expect(result.status == 0)
        for text in ["run (default)", "check", "plan", "--config, else $ENCLAVE_INIT_CONFIG, else", "/etc/enclave-init/boot.json", "78 invalid config"] {
            #expect(result.stdout.contains(text), "help lacks \(text)")
        }
        let check = try ProcessRunner.enclaveInit(["check", "--help"])
        #expect(check.status == 0 && check.stdout.contains("--config <path>"))
    }

    /// One line: the VERSION file's version and the commit scripts/build-static stamped in
    /// (a binary it did not make says it is unstamped, and only those may).
    @Test func versionPrintsTheVersionFileAndTheCommit() throws {
        let result = try ProcessRunner.enclaveInit(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.split(separator: "\n").count == 1)
        let version = try String(contentsOfFile: #filePath.replacingOccurrences(of: "Tests/EnclaveInitTests/CLITests.swift", with: "VERSION"),
                                 encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        if ProcessRunner.binary.hasSuffix("dist/enclave-init") {
            #expect(result.stdout.wholeMatch(of: #/(\S+) \(commit ([0-9a-f]{12})(-dirty)?\)\n/#)?.output.1 == Substring(version), "\(result.stdout)")
        } else {
            #expect(result.stdout.hasPrefix("unstamped") || result.stdout.hasPrefix(version + " "), "\(result.stdout)")
        }
    }

    /// describe-eif's exit codes: 65 for a file that is no image, 66 for one that cannot be read.
    @Test func describeEIFSaysWhatIsWrongWithAFile() throws {
        let notAnImage = try directory.write("notes.txt", "hello")
        let invalid = try ProcessRunner.enclaveInit(["describe-eif", notAnImage])
        #expect(invalid.status == 65, "\(invalid.output)")
        #expect(invalid.stderr.contains("not an enclave image: it starts with 68 65 6c 6c"), "\(invalid.stderr)")
        let missing = try ProcessRunner.enclaveInit(["describe-eif", directory.path + "/missing.eif"])
        #expect(missing.status == 66 && missing.stderr.contains("No such file or directory"), "\(missing.output)")
        let usage = try ProcessRunner.enclaveInit(["describe-eif"])
        #expect(usage.status == 64, "\(usage.output)")
    }

    @Test(arguments: [
        (["--image", "/r", "--output", "o.eif"], "choose a layout: --blobs DIR"),
        (["--image", "/r", "--output", "o.eif", "--blobs", "/b", "--kernel", "/k"], "two layouts; give one"),
        (["--image", "/r", "--output", "o.eif", "--kernel", "/k", "--", "/app"], "no command after -- and no --env"),
        (["--image", "/r", "--output", "o.eif", "--blobs", "/b", "--env", "NOEQUALS", "--", "/app"], "--env NOEQUALS: not KEY=value"),
        (["--image", "/r", "--output", "o.eif", "--kernel", "/k", "--source-date-epoch", "yesterday"], "not whole seconds since 1970"),
        (["--output", "o.eif", "--kernel", "/k"], "--image <path> is required"),
    ])
    func buildRefusesWhatCannotMakeAnImage(_ arguments: [String], _ message: String) throws {
        let result = try ProcessRunner.enclaveInit(["build"] + arguments)
        #expect(result.status == 64, "\(result.output)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test func buildNamesAnImageDirectoryThatIsNotThere() throws {
        let kernel = try directory.write("bzImage", "k")
        let result = try ProcessRunner.enclaveInit(["build", "--image", directory.path + "/nothing", "--output", directory.path + "/o.eif",
                                                    "--kernel", kernel])
        #expect(result.status == 66, "\(result.output)")
        #expect(result.stderr.contains("cannot open \(directory.path)/nothing: No such file or directory"), "\(result.stderr)")
    }

    /// Rules wider than they read are said by check and plan: an address allow rule lets the
    /// DNS stub forward every name not denied, and a port rule opens UDP (QUIC) with egress.udp.
    @Test func checkAndPlanWarnWhereAPolicyIsWiderThanItReads() throws {
        let wide = try directory.write("wide.json", """
            {"version": 1, "egress": {"port": 3128, "vsock_port": 8001, "transparent": true, "udp": true,
                                      "allow": ["api.example.com:443", "198.18.0.0/15"]},
             "dns": {"vsock_port": 8053}, "app": {"command": ["/app"]}}
            """)
        let check = try ProcessRunner.enclaveInit(["check", "--config", wide])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.stdout.contains("warning    egress.allow \"198.18.0.0/15\" names addresses, so the DNS stub forwards every name no deny rule covers"), "\(check.stdout)")
        #expect(check.stdout.contains("egress.allow \"api.example.com:443\" opens its ports to TCP and UDP alike (egress.udp is on): \":443\" also lets QUIC out"), "\(check.stdout)")
        let plan = try ProcessRunner.enclaveInit(["plan", "--config", wide])
        #expect(plan.status == 0 && plan.stdout.contains("warning: egress.allow \"198.18.0.0/15\" names addresses"), "\(plan.output)")
        let narrow = try directory.write("narrow.json", """
            {"version": 1, "egress": {"port": 3128, "vsock_port": 8001, "allow": ["api.example.com:443"]},
             "dns": {"vsock_port": 8053}, "app": {"command": ["/app"]}}
            """)
        let quiet = try ProcessRunner.enclaveInit(["check", "--config", narrow])
        #expect(quiet.status == 0 && !quiet.stdout.contains("warning"), "\(quiet.output)")
    }

    @Test func unknownOptionIsAUsageError() throws {
        let result = try ProcessRunner.enclaveInit(["check", "--confg", "x"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--confg"))
    }

    @Test(arguments: invalidConfigs)
    func checkExits78NamingThePath(_ testCase: InvalidConfigCase) throws {
        let path = try directory.write("boot.json", testCase.json)
        let result = try ProcessRunner.enclaveInit(["check", "--config", path])
        #expect(result.status == 78, "\(result.output)")
        #expect(result.stderr.contains("  \(testCase.path)"), "\(result.stderr)")
        #expect(result.stderr.contains(testCase.message), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    /// A --status-file whose directory is missing is refused when `parent` starts, not at the
    /// enclave's first status event (under a timeout: a parent that started would serve).
    @Test func parentRefusesAStatusFileItCouldNeverWrite() throws {
        let path = try directory.write("status.json", #"{"version": 1, "status": {"vsock_port": 9101}}"#)
        let result = try ProcessRunner.run("/usr/bin/timeout", ["10", ProcessRunner.binary, "parent", "--config", path,
                                                                "--status-file", directory.path + "/missing/status.json"],
                                           environment: ["PATH": "/usr/bin:/bin", "ENCLAVE_INIT_VSOCK_DIR": directory.path])
        #expect(result.status == 64, "\(result.output)")
        #expect(result.stderr.contains("--status-file \(directory.path)/missing/status.json: the directory \(directory.path)/missing does not exist"), "\(result.stderr)")
    }

    /// check, plan and the parent half's serve (under a timeout: a config it took would be served).
    @Test(arguments: unreachableKMSConfigs)
    func checkPlanAndParentServeRefuseAKMSNothingCarries(_ testCase: InvalidConfigCase) throws {
        let path = try directory.write("boot.json", testCase.json)
        for command in [["check"], ["plan"], ["parent", "--enclave-cid", "16"]] {
            let result = try ProcessRunner.run("/usr/bin/timeout", ["10", ProcessRunner.binary] + command + ["--config", path],
                                               environment: ["PATH": "/usr/bin:/bin", "ENCLAVE_INIT_VSOCK_DIR": directory.path])
            #expect(result.status == 78, "\(command): \(result.output)")
            #expect(result.stderr.contains("  \(testCase.path)"), "\(result.stderr)")
            #expect(result.stderr.contains(testCase.message), "\(result.stderr)")
        }
    }

    @Test(arguments: userMistakes)
    func checkAnswersAMistakeWithItsFix(_ testCase: UserMistakeCase) throws {
        let path = try directory.write("boot.json", testCase.json)
        let result = try ProcessRunner.enclaveInit(["check", "--config", path])
        #expect(result.status == 78, "\(result.output)")
        for fragment in testCase.says { #expect(result.stderr.contains(fragment), "\(fragment) not in:\n\(result.stderr)") }
        if let count = testCase.issueCount { #expect(result.stderr.contains(count == 1 ? ": 1 error\n" : ": \(count) errors\n"), "\(result.stderr)") }
    }

    /// `run` is the default command, yet a mistyped command is named as one, with what is near.
    @Test func anUnknownCommandIsNamedWithWhatIsNear() throws {
        let typo = try ProcessRunner.enclaveInit(["chek", "--config", "x"])
        #expect(typo.status == 64)
        #expect(typo.stderr.contains("unknown command 'chek'; did you mean 'check'?"), "\(typo.stderr)")
        let program = try ProcessRunner.enclaveInit(["/bin/true"])
        #expect(program.status == 64)
        #expect(program.stderr.contains("A program to run goes after `--`: enclave-init [run] [--config PATH] -- /bin/true"), "\(program.stderr)")
        // The commands themselves, and options before them, are untouched.
        #expect(try ProcessRunner.enclaveInit(["--version"]).status == 0)
    }

    /// `parent stop` without an enclave (and without the emulation) answers with its own usage.
    @Test func parentStopWithoutAnEnclaveShowsItsOwnUsage() throws {
        let result = try ProcessRunner.enclaveInit(["parent", "stop", "--config", "/nonexistent.json"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("which enclave? give --enclave-cid N or --enclave-name NAME"), "\(result.stderr)")
        #expect(result.stderr.contains("Usage: enclave-init parent stop "), "\(result.stderr)")
    }

    /// The usage lines read right: options before `--`, the command after it optional, the
    /// parent's options all there and none shown as required.
    @Test func helpReadsRight() throws {
        func usage(_ arguments: [String]) throws -> String {
            let help = try ProcessRunner.enclaveInit(arguments + ["--help"])
            return help.stdout.split(separator: "\n").first { $0.hasPrefix("USAGE: ") }.map(String.init) ?? help.stdout
        }
        for command in ["run", "check", "plan"] {
            let line = try usage([command])
            #expect(line.hasSuffix("[--config <path>] [--log-level <level>] [-- <command> [<argument> ...]]"), "\(line)")
        }
        let parent = try ProcessRunner.enclaveInit(["parent", "--help"]).stdout
        #expect(parent.contains("enclave-init parent [serve] [--config <path>]") && parent.contains("[--ingress-bind <address>]"), "\(parent)")
        #expect(!parent.contains(" --config <path> [") , "--config shown as required: \(parent)")
        let stop = try ProcessRunner.enclaveInit(["parent", "stop", "--help"]).stdout.replacingOccurrences(of: "\n", with: " ")
        #expect(!stop.contains("for ingress and stop") && stop.contains("64 a usage error"), "\(stop)")
        #expect(try ProcessRunner.enclaveInit(["--help"]).stdout.replacingOccurrences(of: "\n", with: " ").contains("64 a usage error"))
        // Every command takes --log-level, as the README says.
        let example = #filePath.replacingOccurrences(of: "Tests/EnclaveInitTests/CLITests.swift", with: "rootfs/etc/enclave-init/boot.json")
        for command in ["check", "plan"] {
            let result = try ProcessRunner.enclaveInit([command, "--log-level", "debug", "--config", example])
            #expect(result.status == 0, "\(command): \(result.output)")
        }
    }

    /// The README's synopsis names every option each command has (read from the binary's own
    /// usage lines, so a new option cannot be left out).
    @Test func theReadmeSynopsisNamesEveryOption() throws {
        let readme = try String(contentsOfFile: #filePath.replacingOccurrences(of: "Tests/EnclaveInitTests/CLITests.swift", with: "README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## Command line"))
        let synopsis = String(readme[section.upperBound...].prefix(4000))
        let commands: [([String], String)] = [(["run"], "enclave-init [run]"), (["check"], "enclave-init check"), (["plan"], "enclave-init plan"),
                                              (["parent", "serve"], "enclave-init parent [serve]"), (["parent", "stop"], "enclave-init parent stop"),
                                              (["parent", "vsock-proxy"], "enclave-init parent vsock-proxy")]
        for (arguments, readmeStart) in commands {
            let help = try ProcessRunner.enclaveInit(arguments + ["--help"]).stdout
            let usage = help.split(separator: "\n").first { $0.hasPrefix("USAGE: ") } ?? ""
            // The README's entry: from its first word to the next entry (continuation lines included).
            let start = try #require(synopsis.range(of: "    " + readmeStart), "README synopsis lacks \(readmeStart)")
            let rest = synopsis[start.upperBound...]
            let entry = rest[..<(rest.range(of: "\n    enclave-init ")?.lowerBound ?? rest.endIndex)]
            for option in usage.matches(of: #/--[a-z0-9_-]+/#).map({ String($0.0) }) where option != "--help" {
                let spelled = option == "--ipv4" ? "-4" : option == "--ipv6" ? "-6" : option == "--num_workers" ? "-w" : option
                #expect(entry.contains(spelled), "README's \(readmeStart) lacks \(spelled): \(entry)")
            }
        }
    }

    @Test(arguments: validConfigs)
    func validConfigsRoundTripThroughPlan(_ testCase: ValidConfigCase) throws {
        let path = try directory.write("boot.json", testCase.json)
        let override = testCase.commandOverride.isEmpty ? [] : ["--"] + testCase.commandOverride
        let check = try ProcessRunner.enclaveInit(["check", "--config", path] + override)
        #expect(check.status == 0, "\(check.output)")
        #expect(check.stdout.contains("valid"))
        let plan = try ProcessRunner.enclaveInit(["plan", "--config", path] + override, environment: [:])
        #expect(plan.status == 0, "\(plan.output)")
        for line in testCase.planContains { #expect(plan.stdout.contains(line), "plan lacks \(line):\n\(plan.stdout)") }
        // The steps come in boot order, numbered.
        let titles = plan.stdout.split(separator: "\n").compactMap { line -> String? in
            guard let first = line.first, first.isNumber else { return nil }
            return line.split(separator: " ").dropFirst().first.map(String.init)
        }
        #expect(titles == ["early", "config", "pid-1", "streams", "network", "proxies", "mounts", "secrets", "app", "supervise"])
    }

    @Test func configPathPrecedence() throws {
        let fromFlag = try directory.write("flag.json", withBase(#""hostname": "fromflag""#))
        let fromEnvironment = try directory.write("env.json", withBase(#""hostname": "fromenv""#))
        let both = try ProcessRunner.enclaveInit(["check", "--config", fromFlag], environment: ["ENCLAVE_INIT_CONFIG": fromEnvironment])
        #expect(both.stdout.contains("fromflag"))
        let environmentOnly = try ProcessRunner.enclaveInit(["check"], environment: ["ENCLAVE_INIT_CONFIG": fromEnvironment])
        #expect(environmentOnly.stdout.contains("fromenv"))
        // Neither: the default path, named in the error when it is missing.
        if !FileManager.default.fileExists(atPath: "/etc/enclave-init/boot.json") {
            let neither = try ProcessRunner.enclaveInit(["check"], environment: [:])
            #expect(neither.status == 78)
            #expect(neither.stderr.contains("/etc/enclave-init/boot.json"))
        }
    }

    @Test func planShowsTheVsockEmulation() throws {
        let path = try directory.write("boot.json", withBase(#""hosts": [{"names": ["a.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000}], "ingress": [{"vsock_port": 5000, "port": 8080}]"#))
        let plan = try ProcessRunner.enclaveInit(["plan", "--config", path],
                                                 environment: ["ENCLAVE_INIT_VSOCK_DIR": "/tmp/vs", "ENCLAVE_INIT_VSOCK_CID": "21"])
        #expect(plan.stdout.contains("vsock:3:8000 (emulated: unix:/tmp/vs/3-8000)"))
        #expect(plan.stdout.contains("vsock:any:5000 (emulated: unix:/tmp/vs/21-5000)"))
    }

    @Test func planTouchesNothing() throws {
        let hostsFile = try directory.write("hosts", "127.0.0.1 localhost\n")
        let path = try directory.write("boot.json", withBase(#""hostname": "x", "network": {"hosts_file": "\#(hostsFile)"}, "hosts": [{"names": ["a.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000}]"#))
        let plan = try ProcessRunner.enclaveInit(["plan", "--config", path])
        #expect(plan.status == 0)
        #expect(try String(contentsOfFile: hostsFile, encoding: .utf8) == "127.0.0.1 localhost\n")
    }

    @Test func runRejectsAnInvalidConfigWith78() throws {
        let path = try directory.write("boot.json", #"{"version": 1, "app": {"command": ["/bin/true"], "restart": "sometimes"}}"#)
        let result = try ProcessRunner.enclaveInit(["run", "--config", path])
        #expect(result.status == 78)
        #expect(result.stderr.contains("app.restart"))
        // `run` is the default command.
        let implicit = try ProcessRunner.enclaveInit(["--config", path])
        #expect(implicit.status == 78)
    }

    @Test func checkAcceptsTheExampleImageConfig() throws {
        let path = #filePath.replacingOccurrences(of: "Tests/EnclaveInitTests/CLITests.swift", with: "rootfs/etc/enclave-init/boot.json")
        let result = try ProcessRunner.enclaveInit(["check", "--config", path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("outbound   kms.us-east-1.amazonaws.com -> 127.0.0.2:443"))
        #expect(result.stdout.contains("shutdown   grace 10 s, or `stop` on vsock port 9102 (parent stop)"), "\(result.stdout)")
        #expect(result.stdout.contains("clock      from the parent on vsock port 9103, every 300 s"), "\(result.stdout)")
    }
}

/// The systemd units in docs/ run enclave-init with options that exist: each ExecStart/ExecStop
/// command line of the binary, pointed at a config that is not there, ends with the missing
/// config (78), not with a usage error (64).
@Suite struct SystemdUnitTests {
    static let docs = #filePath.replacingOccurrences(of: "Tests/EnclaveInitTests/CLITests.swift", with: "docs")

    /// Every `enclave-init ...` command line of the units, continuation lines joined.
    static func commandLines() throws -> [(unit: String, arguments: [String])] {
        let units = try FileManager.default.contentsOfDirectory(atPath: docs).filter { $0.hasSuffix(".service") }.sorted()
        var found: [(String, [String])] = []
        for unit in units {
            let text = try String(contentsOfFile: docs + "/" + unit, encoding: .utf8).replacingOccurrences(of: "\\\n", with: " ")
            for line in text.split(separator: "\n") where !line.hasPrefix("#") && line.contains("/enclave-init ") {
                let words = line.split(separator: " ").map(String.init)
                guard let binary = words.firstIndex(where: { $0.hasSuffix("/enclave-init") }) else { continue }
                found.append((unit, Array(words[(binary + 1)...])))
            }
        }
        return found
    }

    @Test func theUnitsUseOptionsThatExist() throws {
        let lines = try Self.commandLines()
        #expect(lines.contains { $0.arguments.starts(with: ["parent", "stop"]) }, "no unit stops the enclave with `parent stop`")
        let missing = "/nonexistent/enclave-init/boot.json"
        for (unit, arguments) in lines {
            let result = try ProcessRunner.enclaveInit(arguments.map { $0 == "/etc/enclave-init/boot.json" ? missing : $0 },
                                                       environment: ["PATH": "/usr/bin:/bin", "ENCLAVE_INIT_VSOCK_DIR": "/nonexistent/vsock"])
            #expect(result.status == 78, "\(unit): \(arguments.joined(separator: " ")): \(result.stderr)")
            #expect(result.stderr.contains(missing), "\(unit): \(result.stderr)")
        }
    }

    /// systemd's own checker (Debian's systemd, installed by scripts/install-deps) finds nothing
    /// to say about the units: every directive known and every value parsed, the units they
    /// name present. It runs against a root of its own holding this machine's systemd units,
    /// the units from docs/ in /etc/systemd/system, the binary where they expect it, and
    /// stand-ins for what the aws-nitro-enclaves-cli package would bring (nitro-cli and its
    /// allocator unit).
    @Test func systemdAnalyzeVerifyFindsNothingToSay() throws {
        let root = try TemporaryDirectory()
        for directory in ["usr/lib/systemd", "etc/systemd/system", "usr/local/bin", "usr/bin"] {
            try FileManager.default.createDirectory(atPath: root.path + "/" + directory, withIntermediateDirectories: true)
        }
        let copy = try ProcessRunner.run("/bin/cp", ["-a", "/usr/lib/systemd/system", root.path + "/usr/lib/systemd/"])
        try #require(copy.status == 0, "systemd's units (Debian's systemd): \(copy.stderr)")
        try FileManager.default.createSymbolicLink(atPath: root.path + "/bin", withDestinationPath: "usr/bin")
        for (path, text) in [("usr/local/bin/enclave-init", "#!/bin/sh\n"), ("usr/bin/nitro-cli", "#!/bin/sh\n"), ("usr/bin/true", "#!/bin/sh\n")] {
            try text.write(toFile: root.path + "/" + path, atomically: true, encoding: .utf8)
            chmod(root.path + "/" + path, 0o755)
        }
        try "[Unit]\nDescription=stand-in for the allocator unit of aws-nitro-enclaves-cli\n[Service]\nType=oneshot\nExecStart=/usr/bin/true\n"
            .write(toFile: root.path + "/usr/lib/systemd/system/nitro-enclaves-allocator.service", atomically: true, encoding: .utf8)
        let units = try FileManager.default.contentsOfDirectory(atPath: Self.docs).filter { $0.hasSuffix(".service") }.sorted()
        #expect(units == ["enclave-init-parent.service", "enclave.service"])
        for unit in units { try FileManager.default.copyItem(atPath: Self.docs + "/" + unit, toPath: root.path + "/etc/systemd/system/" + unit) }
        let verify = try ProcessRunner.run("/usr/bin/systemd-analyze", ["verify", "--root=" + root.path] + units)
        #expect(verify.status == 0 && verify.stdout.isEmpty && verify.stderr.isEmpty, "\(verify.stdout)\(verify.stderr)")
    }

    /// What each unit promises about exit codes: 78 (a bad boot JSON or allowlist) is never
    /// restarted, and the enclave's unit lives as long as the enclave (its main process is the
    /// parent half with --exit-with-enclave, not a oneshot that stays active).
    @Test func theUnitsDoNotLoopOnABadConfigAndFollowTheEnclave() throws {
        let parent = try String(contentsOfFile: Self.docs + "/enclave-init-parent.service", encoding: .utf8)
        let enclave = try String(contentsOfFile: Self.docs + "/enclave.service", encoding: .utf8)
        for text in [parent, enclave] {
            #expect(text.split(separator: "\n").contains { $0.hasPrefix("RestartPreventExitStatus=") && $0.split(separator: "=")[1].split(separator: " ").contains("78") })
        }
        #expect(!enclave.contains("Type=oneshot") && !enclave.contains("RemainAfterExit"))
        let main = try #require(Self.commandLines().first { $0.unit == "enclave.service" && $0.arguments.first == "parent" && !$0.arguments.contains("stop") })
        #expect(main.arguments.contains("--exit-with-enclave"), "\(main)")
    }
}
