import Foundation
import Testing
import TestSupport

/// The static binary as PID 1 of a PID + mount namespace, chrooted into a directory that holds
/// nothing but itself and a config: no /proc, no /dev, no libraries. The static Swift runtime
/// aborts without /proc/self/exe, so this works only because the early C constructor mounts
/// /proc before the runtime starts.
@Suite(.serialized) struct EmptyChrootTests {
    static let example: String = {
        let path = #filePath.replacingOccurrences(of: "Tests/SandboxTests/EmptyChrootTests.swift", with: "rootfs/etc/enclave-init/boot.json")
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }()

    @Test func checkSucceedsAsPID1InAnEmptyChroot() throws {
        let root = try Sandbox.emptyRoot(files: ["boot.json": Self.example])
        #expect(!FileManager.default.fileExists(atPath: root.path + "/proc"))
        let result = try Sandbox.runAsPID1(in: root, ["check", "--config", "/boot.json"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.hasPrefix("/boot.json: valid (boot JSON version 1)"))
        // The constructor created /proc in the chroot and mounted it inside the namespace only:
        // the directory stays, the mount went away with the namespace.
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: root.path + "/proc", isDirectory: &isDirectory) && isDirectory.boolValue)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path + "/proc").isEmpty)
    }

    @Test func invalidConfigAsAContainersPID1PrintsErrorsThenExits78() throws {
        let root = try Sandbox.emptyRoot(files: ["boot.json": #"{"version": 1, "app": {"command": ["/app"], "user": "a:b:c"}}"#])
        let result = try Sandbox.runAsPID1(in: root, ["run", "--config", "/boot.json"])
        #expect(result.stderr.contains("mounted /proc before the runtime started"), "\(result.output)")
        #expect(result.stderr.contains("app.user"))
        #expect(result.stderr.contains("exiting exit_code=78"))
        // A nested PID namespace's init exits with the code, like tini; it does not power off.
        #expect(result.status == 78, "\(result.output)")
    }

    @Test func checkAsPID1ReportsInvalidConfigWith78() throws {
        let root = try Sandbox.emptyRoot(files: ["boot.json": #"{"version": 1, "hosts": [{"address": "10.0.0.1"}]}"#])
        let result = try Sandbox.runAsPID1(in: root, ["check", "--config", "/boot.json"])
        #expect(result.status == 78, "\(result.output)")
        #expect(result.stderr.contains("hosts[0].address"))
    }

    @Test func asAContainersPID1ItMountsThePseudoFilesystemsRunsTheAppAndExitsWithItsStatus() throws {
        let root = try Sandbox.emptyRoot(files: ["boot.json": #"{"version": 1, "hostname": "chrooted"}"#])
        try FileManager.default.createDirectory(atPath: root.path + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root.path + "/etc", withIntermediateDirectories: true)
        try Sandbox.copyExecutable("/bin/busybox", to: root.path + "/bin/busybox")
        let result = try Sandbox.runAsPID1(in: root, ["run", "--config", "/boot.json", "--", "/bin/busybox", "sh", "-c",
                                                      "/bin/busybox cat /proc/mounts; echo app-ran-as-$$ on $(/bin/busybox hostname); exit 7"])
        let mounts = Set(result.stdout.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            return fields.count > 2 ? "\(fields[2]) \(fields[1])" : nil
        })
        for expected in ["proc /proc", "sysfs /sys", "devtmpfs /dev", "devpts /dev/pts", "tmpfs /dev/shm"] {
            #expect(mounts.contains(expected), "missing \(expected) in \(mounts.sorted())")
        }
        // A container's init mounts no tmpfs over the image's /run and /tmp.
        #expect(!mounts.contains("tmpfs /run") && !mounts.contains("tmpfs /tmp"), "\(mounts.sorted())")
        // The app is the pid the supervisor started (not 2: enclave-init's threads, the console
        // writer's among them, take pids of the namespace too).
        let started = result.stderr.range(of: "app: started pid ").map { String(result.stderr[$0.upperBound...].prefix { $0.isNumber }) } ?? "?"
        #expect(result.stdout.contains("app-ran-as-\(started) on chrooted"), "\(result.output)")
        // The network step wrote the hosts file of the image, which had none.
        let hosts = try String(contentsOfFile: root.path + "/etc/hosts", encoding: .utf8)
        #expect(hosts.contains("127.0.0.1 localhost\n::1 localhost\n127.0.1.1 chrooted\n# END enclave-init"), "\(hosts)")
        #expect(result.stderr.contains("pid-1: mounted /sys /dev /dev/pts /dev/shm\n"), "\(result.stderr)")
        #expect(result.stderr.contains("app: pid \(started) exited with status 7"), "\(result.stderr)")
        Sandbox.expectEnded(result, .pid1, withCode: 7)
    }
}
