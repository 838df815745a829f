import Foundation
import Testing
import TestSupport

/// The README's local run ("Run the image locally") played without a Docker engine:
///
///     docker run --rm --network none -v $PWD/vsock:/run/vsock -e ENCLAVE_INIT_VSOCK_DIR=/run/vsock my-enclave
///     ENCLAVE_INIT_VSOCK_DIR=$PWD/vsock enclave-init parent --config boot.json --exit-with-enclave --ingress-bind 127.0.0.1
///
/// The "runtime" does what Docker does for that command: an image rootfs entered with chroot
/// as PID 1 of new pid, net (only lo), mount and uts namespaces, its own /etc/hosts and
/// /etc/resolv.conf bind-mounted over the image's, the shared directory as a volume, and the
/// status of PID 1 as `docker run`'s. The parent half runs outside, from the same boot JSON.
@Suite(.serialized) struct LocalRunSandboxTests {
    let scratch: TemporaryDirectory
    let vsock: String

    init() throws {
        (scratch, vsock) = try Sandbox.scratchWithVsockDirectory()
    }

    static let bootJSON = """
        {
          "version": 1,
          "hostname": "enclave",
          "hosts": [ { "names": ["files.internal"], "address": "127.0.0.7", "port": 80,
                       "vsock_port": 8000, "remote": "127.0.0.1:8081" } ],
          "logs": { "vsock_port": 9100 },
          "status": { "vsock_port": 9101 },
          "control": { "vsock_port": 9102 },
          "clock": { "vsock_port": 9103 },
          "app": { "command": ["/bin/sh", "/app/app.sh"], "user": "1000:1000" }
        }
        """

    /// The image: the static binary, busybox as /bin/sh, the boot JSON, an app, passwd/group,
    /// and the image's own /etc/hosts (which the runtime hides behind its own).
    private func image(app: String) throws -> String {
        let root = scratch.path + "/rootfs"
        for directory in ["sbin", "bin", "etc/enclave-init", "app", "run/vsock", "tmp"] {
            try FileManager.default.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: true)
        }
        chmod(root + "/tmp", 0o1777) // as in every image: the app (uid 1000) writes there
        try Sandbox.copyExecutable(try Sandbox.staticBinary(), to: root + "/sbin/enclave-init")
        try Sandbox.copyExecutable("/bin/busybox", to: root + "/bin/busybox")
        for applet in ["sh", "cat", "nc", "printf", "hostname", "id", "sleep", "head"] {
            try? FileManager.default.createSymbolicLink(atPath: root + "/bin/" + applet, withDestinationPath: "busybox")
        }
        try Self.bootJSON.write(toFile: root + "/etc/enclave-init/boot.json", atomically: true, encoding: .utf8)
        try app.write(toFile: root + "/app/app.sh", atomically: true, encoding: .utf8)
        try "root:x:0:0:root:/:/bin/sh\napp:x:1000:1000:app:/app:/bin/sh\n".write(toFile: root + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\napp:x:1000:\n".write(toFile: root + "/etc/group", atomically: true, encoding: .utf8)
        try "127.0.0.1 localhost\n# the image's own, hidden by the runtime's\n".write(toFile: root + "/etc/hosts", atomically: true, encoding: .utf8)
        return root
    }

    /// `docker run --network none -v VSOCK:/run/vsock -e ENCLAVE_INIT_VSOCK_DIR=/run/vsock` of the
    /// image, its CMD /sbin/enclave-init as PID 1. Returns the process and the runtime's hosts file.
    private func dockerRun(_ root: String) throws -> (SpawnedProcess, String) {
        let hosts = try scratch.write("runtime-hosts", "127.0.0.1\tlocalhost\n172.17.0.2\tcontainer-id\n")
        let resolver = try scratch.write("runtime-resolv.conf", "nameserver 192.0.2.53\n")
        // The container cannot set this machine's clock: no CAP_SYS_TIME (Docker's default too).
        let runtime = """
            set -e
            mount --bind "$1" "$4/etc/hosts"; mount --bind "$2" "$4/etc/resolv.conf" 2>/dev/null || { : > "$4/etc/resolv.conf"; mount --bind "$2" "$4/etc/resolv.conf"; }
            mount --bind "$3" "$4/run/vsock"
            ip link set lo up
            exec setpriv --bounding-set -sys_time --inh-caps -sys_time -- chroot "$4" /sbin/enclave-init
            """
        let process = try SpawnedProcess("/usr/bin/unshare", Sandbox.unshare.dropFirst().filter { $0 != "--mount-proc" }
                                            + ["/bin/sh", "-c", runtime, "runtime", hosts, resolver, vsock, root],
                                         environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "ENCLAVE_INIT_VSOCK_DIR": "/run/vsock"])
        return (process, hosts)
    }

    /// `enclave-init parent --config boot.json --exit-with-enclave` on the "host", in a network
    /// namespace of its own with the server that hosts[0].remote names.
    private func parent(_ root: String) throws -> SpawnedProcess {
        let site = scratch.path + "/site"
        try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
        try "hello from the host\n".write(toFile: site + "/hello.txt", atomically: true, encoding: .utf8)
        for port in [8000, 9100, 9101, 9103] { try? FileManager.default.removeItem(atPath: "\(vsock)/3-\(port)") }
        let parent = try Sandbox.startParent(["--config", root + "/etc/enclave-init/boot.json", "--exit-with-enclave"],
                                             hostsFile: try scratch.write("parent-hosts", "127.0.0.1 localhost\n"),
                                             environment: ["ENCLAVE_INIT_VSOCK_DIR": vsock], ownNetwork: true,
                                             prelude: "python3 -m http.server 8081 --bind 127.0.0.1 --directory \(site) > /dev/null 2>&1 &")
        #expect(eventually(timeout: .seconds(10)) { FileManager.default.fileExists(atPath: vsock + "/3-9103") }, "\(parent.stderrSoFar)")
        usleep(300_000) // python's server in the parent's namespace
        return parent
    }

    private static let fetchApp = """
        echo "app: uid $(id -u) on $(hostname)"
        echo "app: hosts says $(grep files.internal /etc/hosts 2>/dev/null || busybox grep files.internal /etc/hosts)"
        printf 'GET /hello.txt HTTP/1.0\\r\\nHost: files.internal\\r\\n\\r\\n' | nc files.internal 80 > /tmp/answer
        echo "app: fetched: $(busybox tail -1 /tmp/answer)"
        exit 3
        """

    @Test func theImageRunsAsAContainerWithTheParentOnTheHost() throws {
        let root = try image(app: Self.fetchApp)
        let parent = try parent(root)
        let (container, runtimeHosts) = try dockerRun(root)
        let run = try #require(container.wait(timeout: .seconds(60)), "the container did not end")
        // docker run's exit status is the app's.
        #expect(run.status == 3, "\(run.stderr)")
        #expect(run.stderr.contains("pid-1: a container's init (PID 1 of a nested PID namespace)"), "\(run.stderr)")
        #expect(run.stdout.contains("app: uid 1000 on enclave"), "\(run.stdout)")
        #expect(run.stdout.contains("app: hosts says 127.0.0.7 files.internal"), "\(run.stdout)")
        #expect(run.stdout.contains("app: fetched: hello from the host"), "\(run.stdout)\n\(run.stderr)")
        #expect(run.stderr.contains("clock: left alone: a container shares its host's clock"), "\(run.stderr)")
        // The runtime's hosts file got the managed block, its own lines kept (rewritten in place:
        // it is a mount point, as Docker's is).
        let hosts = try String(contentsOfFile: runtimeHosts, encoding: .utf8)
        #expect(hosts.contains("127.0.0.7 files.internal") && hosts.contains("172.17.0.2\tcontainer-id"), "\(hosts)")
        #expect(run.stderr.contains("rewritten in place: it is a mount point"), "\(run.stderr)")

        let host = try #require(parent.wait(timeout: .seconds(15)), "the parent did not exit with the enclave")
        #expect(host.status == 3, "\(host.stderr)")
        #expect(host.stdout.contains("stdout| app: fetched: hello from the host"), "\(host.stdout)")
        #expect(host.stderr.contains("\"event\":\"shutdown\",\"exit_code\":3,\"power_off\":false"), "\(host.stderr)")
    }

    /// `docker stop`: SIGTERM to the container's PID 1, which the app does not trap: 143.
    @Test func dockerStopEndsItWithTheSignalsStatus() throws {
        let root = try image(app: "touch /tmp/running; while :; do sleep 0.1; done")
        let parent = try parent(root)
        defer { kill(parent.pid, SIGTERM); _ = parent.wait(timeout: .seconds(10)) }
        let (container, _) = try dockerRun(root)
        #expect(eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: root + "/tmp/running") }, "\(container.stderrSoFar)")
        let pid1 = try #require(container.child(running: "enclave-init"))
        kill(pid1, SIGTERM)
        let run = try #require(container.wait(timeout: .seconds(30)))
        #expect(run.status == 128 + SIGTERM, "\(run.stderr)")
        #expect(run.stderr.contains("received SIGTERM: shutting down"), "\(run.stderr)")
    }

    // MARK: - The README's commands, as written

    static let repository = #filePath.replacingOccurrences(of: "/Tests/SandboxTests/LocalRunSandboxTests.swift", with: "")

    /// The indented code blocks of the README's "Run the image locally" section, in order.
    static func readmeBlocks() throws -> [String] {
        let readme = try String(contentsOfFile: repository + "/README.md", encoding: .utf8)
        let section = try #require(readme.range(of: "\n## Run the image locally"), "the README has no local-run section")
        let rest = readme[section.upperBound...]
        let body = rest[..<(rest.range(of: "\n## ")?.lowerBound ?? rest.endIndex)]
        var blocks: [String] = [], current: [String] = []
        for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("    ") {
                current.append(String(line.dropFirst(4)))
            } else if !current.isEmpty {
                blocks.append(current.joined(separator: "\n"))
                current = []
            }
        }
        return blocks
    }

    /// `docker run` as this machine can play it (no Docker engine): the options the README uses,
    /// the image's rootfs from $IMAGES/NAME, its CMD /sbin/enclave-init (the Dockerfile's).
    static let dockerStandIn = #"""
        #!/bin/sh
        # A test-only stand-in for `docker run` (no Docker engine on this machine).
        set -e
        [ "$1" = run ] || { echo "docker (stand-in): only 'run' is played" >&2; exit 125; }
        shift
        volumes=""; environment=""
        while [ $# -gt 0 ]; do
          case "$1" in
            --rm) shift ;;
            --network) [ "$2" = none ] || { echo "docker (stand-in): only --network none" >&2; exit 125; }; shift 2 ;;
            --cap-add) shift 2 ;; # the stand-in runs as root: every capability is there
            -v) volumes="$volumes $2"; shift 2 ;;
            -e) environment="$environment $2"; shift 2 ;;
            -*) echo "docker (stand-in): unknown option $1" >&2; exit 125 ;;
            *) break ;;
          esac
        done
        root="$IMAGES/$1"
        [ -d "$root" ] || { echo "Unable to find image '$1' locally" >&2; exit 125; }
        runtime=$(mktemp -d)
        printf '127.0.0.1\tlocalhost\n172.17.0.2\tcontainer-id\n' > "$runtime/hosts"
        printf 'nameserver 192.0.2.53\n' > "$runtime/resolv.conf"
        exec unshare --pid --net --mount --uts --fork --kill-child sh -c '
          set -e
          root=$1 runtime=$2 volumes=$3 environment=$4
          mount --bind /usr "$root/usr"; mount -o remount,bind,ro "$root/usr"
          for volume in $volumes; do mkdir -p "$root${volume#*:}"; mount --bind "${volume%%:*}" "$root${volume#*:}"; done
          mount --bind "$runtime/hosts" "$root/etc/hosts"; mount --bind "$runtime/resolv.conf" "$root/etc/resolv.conf"
          mount -t proc proc "$root/proc"
          ip link set lo up
          exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=container-id $environment \
            setpriv --bounding-set -sys_time --inh-caps -sys_time -- chroot "$root" /sbin/enclave-init
        ' docker "$root" "$runtime" "$volumes" "$environment"
        """#

    /// The example image as the Dockerfile builds it: the static binary as /sbin/enclave-init,
    /// the repository's rootfs/ (boot JSON and app), an `app` user 1000; this machine's Debian
    /// /usr (bind-mounted read-only by the stand-in) in place of debian:bookworm-slim + python3.
    private func exampleImage() throws -> String {
        let root = scratch.path + "/images/my-enclave"
        for directory in ["usr", "sbin", "etc/enclave-init", "app", "proc", "sys", "dev", "run/vsock", "tmp", "var/tmp"] {
            try FileManager.default.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: true)
        }
        for link in ["bin", "lib", "lib64"] { try FileManager.default.createSymbolicLink(atPath: root + "/" + link, withDestinationPath: "usr/" + link) }
        chmod(root + "/tmp", 0o1777)
        try Sandbox.copyExecutable(try Sandbox.staticBinary(), to: root + "/sbin/enclave-init")
        for file in ["etc/enclave-init/boot.json", "app/main.py"] {
            try FileManager.default.copyItem(atPath: Self.repository + "/rootfs/" + file, toPath: root + "/" + file)
        }
        try FileManager.default.copyItem(atPath: "/etc/nsswitch.conf", toPath: root + "/etc/nsswitch.conf")
        try "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/usr/sbin/nologin\n".write(toFile: root + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\napp:x:1000:\n".write(toFile: root + "/etc/group", atomically: true, encoding: .utf8)
        for file in ["etc/hosts", "etc/resolv.conf"] { try "".write(toFile: root + "/" + file, atomically: true, encoding: .utf8) }
        return scratch.path + "/images"
    }

    /// The README's local-run commands, verbatim, with the example image and its own boot JSON:
    /// the first block in the background as the user's first terminal, the second once the
    /// app is up as the other terminal. The whole run has a network namespace and a /tmp of
    /// its own, so the README's fixed paths and ports are this run's alone.
    @Test func theReadmesLocalRunWorksAsWrittenWithTheExampleImage() throws {
        let blocks = try Self.readmeBlocks()
        try #require(blocks.count >= 2, "the local-run section should have the run block and the other terminal's: \(blocks)")
        #expect(blocks[0].contains("docker run") && blocks[1].contains("parent stop"), "\(blocks)")
        let images = try exampleImage()
        let work = scratch.path + "/work", bin = scratch.path + "/bin", out = scratch.path + "/out"
        for directory in [work, bin, out] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try FileManager.default.copyItem(atPath: Self.repository + "/rootfs/etc/enclave-init/boot.json", toPath: work + "/boot.json")
        // A copy, not a link: the run mounts a /tmp of its own, which may hide the build's.
        try Sandbox.copyExecutable(try Sandbox.staticBinary(), to: bin + "/enclave-init")
        try Self.dockerStandIn.write(toFile: bin + "/docker", atomically: true, encoding: .utf8)
        chmod(bin + "/docker", 0o755)
        let first = try scratch.write("first-terminal.sh", blocks[0] + "\n")
        let other = try scratch.write("other-terminal.sh", blocks[1] + "\n")
        let user = """
            set -e
            ip link set lo up
            mount -t tmpfs tmpfs /tmp
            cd \(work)
            sh \(first) > \(out)/first.out 2> \(out)/first.err &
            i=0; until grep -q '"event":"app_ready"' \(out)/first.err 2>/dev/null || [ $i -ge 600 ]; do i=$((i + 1)); sleep 0.1; done
            sh \(other) > \(out)/other.out 2> \(out)/other.err
            wait
            """
        let run = try SpawnedProcess("/usr/bin/unshare", ["--net", "--mount", "/bin/sh", "-c", user],
                                     environment: ["PATH": bin + ":/usr/sbin:/usr/bin:/sbin:/bin", "IMAGES": images])
        let result = try #require(run.wait(timeout: .seconds(120)), "the README's commands did not finish")
        let firstErr = scratch.text("out/first.err"), page = scratch.text("out/other.out")
        #expect(result.status == 0, "\(result.stderr)\n\(firstErr)")
        for line in ["hello from the enclave", "hostname: enclave", "kms resolves to: 127.0.0.2",
                     "https_proxy: http://127.0.0.1:3128", "mode: example"] {
            #expect(page.contains(line), "\(line): \(page)\n\(firstErr)\n\(scratch.text("out/other.err"))")
        }
        #expect(scratch.text("out/other.err").contains("the enclave stopped: exit code 0"), "\(scratch.text("out/other.err"))")
        #expect(scratch.text("out/first.out").hasSuffix("0\n"), "\(scratch.text("out/first.out"))\n\(firstErr)")
        #expect(firstErr.contains("\"event\":\"stopping\",\"by\":\"parent\""), "\(firstErr)")
        #expect(firstErr.contains("\"event\":\"shutdown\",\"exit_code\":0"), "\(firstErr)")
    }
}
