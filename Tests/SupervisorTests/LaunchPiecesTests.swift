import BootConfig
import Foundation
import Processes
import Supervisor
import Testing

@Suite struct LaunchPiecesTests {
    let database = UserDatabase(
        passwd: "root:x:0:0:root:/root:/bin/sh\n# comment\napp:x:1000:1000:App:/home/app:/bin/sh\nsvc:x:1001:50::/srv:/bin/false\nbroken-line\n",
        group: "root:x:0:\napp:x:1000:\nstaff:x:50:app,svc\ndocker:x:999:svc\n")

    @Test func namedUserGetsItsGroupsAndHome() throws {
        let credentials = try database.resolve(UserSpec("svc")!).get()
        #expect(credentials == Credentials(uid: 1001, gid: 50, groups: [50, 999], home: "/srv"))
    }

    @Test func explicitGroupReplacesThePrimaryOne() throws {
        let credentials = try database.resolve(UserSpec("app:docker")!).get()
        #expect(credentials.gid == 999 && credentials.groups == [999, 50])
    }

    @Test func numericIdsWorkWithAndWithoutPasswdEntries() throws {
        #expect(try database.resolve(UserSpec("1000")!).get() == Credentials(uid: 1000, gid: 1000, groups: [1000, 50], home: "/home/app"))
        // Like Docker: an unknown uid runs with gid 0 unless a group is given.
        #expect(try database.resolve(UserSpec("4242")!).get() == Credentials(uid: 4242, gid: 0, groups: [0], home: nil))
        #expect(try database.resolve(UserSpec("4242:4242")!).get() == Credentials(uid: 4242, gid: 4242, groups: [4242], home: nil))
    }

    @Test func unknownNamesAreErrors() {
        #expect(throws: LaunchError.setup("app.user: no user \"nobody2\" in /etc/passwd")) { try database.resolve(UserSpec("nobody2")!).get() }
        #expect(throws: LaunchError.setup("app.user: no group \"wheel\" in /etc/group")) { try database.resolve(UserSpec("app:wheel")!).get() }
    }

    @Test func pathLookupBehavesLikeExecvp() throws {
        let directory = NSTemporaryDirectory() + "lookup-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory + "/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/b", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        FileManager.default.createFile(atPath: directory + "/a/tool", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o644])
        FileManager.default.createFile(atPath: directory + "/b/tool", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        try FileManager.default.createDirectory(atPath: directory + "/a/dironly", withIntermediateDirectories: true)

        let path = "\(directory)/a:\(directory)/b"
        #expect(try ExecutableLookup.resolve("tool", searchPath: path).get() == directory + "/b/tool")
        #expect(throws: LaunchError.notExecutable(path: directory + "/a/tool", reason: "Permission denied")) {
            try ExecutableLookup.resolve("tool", searchPath: "\(directory)/a").get()
        }
        #expect(throws: LaunchError.notFound(path: "dironly", reason: "not found in PATH=\(path)")) {
            try ExecutableLookup.resolve("dironly", searchPath: path).get()
        }
        #expect(try ExecutableLookup.resolve("./relative/x", searchPath: path).get() == "./relative/x")
        #expect(try ExecutableLookup.resolve("sh", searchPath: nil).get().hasSuffix("/sh"))
    }

    @Test func appEnvironmentOverridesInheritedValuesInPlace() {
        let environment = LaunchSpec.environment(inherited: ["PATH=/bin", "HOME=/root", "MODE=dev", "odd"],
                                                 overrides: [("MODE", "prod"), ("NEW", "1")], home: "/home/app")
        #expect(environment.map { "\($0.key)=\($0.value)" } == ["PATH=/bin", "HOME=/home/app", "MODE=prod", "NEW=1"])
        let explicitHome = LaunchSpec.environment(inherited: ["HOME=/root"], overrides: [("HOME", "/data")], home: "/home/app")
        #expect(explicitHome.map { "\($0.key)=\($0.value)" } == ["HOME=/data"])
    }

    @Test func backoffDoublesUpToItsBound() {
        var backoff = Backoff()
        let delays = (0..<10).map { _ in backoff.take() }
        #expect(delays.prefix(4) == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800)])
        #expect(delays.last == .seconds(10))
        #expect(zip(delays, delays.dropFirst()).allSatisfy { $0 <= $1 })
    }
}
