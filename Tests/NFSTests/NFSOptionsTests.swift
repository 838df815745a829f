import BootConfig
import Foundation
@testable import NFS
import Glibc
import Testing

@Suite struct NFSOptionsTests {
    private func mount(_ options: String, port: UInt16 = 2049) throws -> Mount {
        let json = """
            {"version": 1, "app": {"command": ["/bin/true"]},
             "hosts": [{"names": ["nfs.internal"], "address": "127.0.0.200", "port": \(port), "vsock_port": 20000}],
             "mounts": [{"type": "nfs4", "server": "127.0.0.200", "port": \(port), "export": "/data", "target": "/mnt/pv",
                         "options": "\(options)"}]}
            """
        return try #require(try BootConfigLoader.decode(Array(json.utf8)).mounts.first)
    }

    @Test(arguments: [
        ("", "vers=4.2,addr=127.0.0.200,port=2049,proto=tcp"),
        ("hard,timeo=50", "vers=4.2,addr=127.0.0.200,port=2049,proto=tcp,hard,timeo=50"),
        ("vers=4.1,soft", "addr=127.0.0.200,port=2049,proto=tcp,vers=4.1,soft"),
        ("nfsvers=4.1", "addr=127.0.0.200,port=2049,proto=tcp,nfsvers=4.1"),
        ("vers=4.0", "addr=127.0.0.200,port=2049,proto=tcp,clientaddr=127.0.0.1,vers=4.0"),
        ("vers=4,clientaddr=127.0.0.5", "addr=127.0.0.200,port=2049,proto=tcp,vers=4,clientaddr=127.0.0.5"),
        ("rsize=1048576,wsize=1048576,sec=sys", "vers=4.2,addr=127.0.0.200,port=2049,proto=tcp,rsize=1048576,wsize=1048576,sec=sys"),
    ])
    func ourDefaultsThenTheUsersOptions(_ options: String, _ expected: String) throws {
        #expect(NFSOptions.text(for: try mount(options)) == expected)
    }

    @Test func theSourceIsServerColonExport() throws {
        #expect(NFSOptions.source(for: try mount("", port: 20049)) == "127.0.0.200:/data")
        #expect(NFSOptions.text(for: try mount("", port: 20049)).contains("port=20049"))
    }

    @Test func errorsSayWhatToCheckAndWhichAreWorthRetrying() {
        #expect(NFSErrors.isPermanent(EINVAL) && NFSErrors.isPermanent(ENODEV) && NFSErrors.isPermanent(EPERM))
        #expect(!NFSErrors.isPermanent(ECONNREFUSED) && !NFSErrors.isPermanent(EIO) && !NFSErrors.isPermanent(ETIMEDOUT) && !NFSErrors.isPermanent(EACCES))
        #expect(NFSErrors.describe(ENODEV, server: "127.0.0.200:2049") == "No such device (ENODEV): this kernel has no NFSv4 client (nfsv4 module)")
        #expect(NFSErrors.describe(EACCES, server: "x").contains("insecure"))
        #expect(NFSErrors.describe(ECONNREFUSED, server: "127.0.0.200:2049").hasPrefix("Connection refused (ECONNREFUSED): the proxy for 127.0.0.200:2049"))
    }
}

/// The README says which mount errors are not retried; it names exactly the ones the code
/// gives up on at once.
@Suite struct NFSRetryDocumentationTests {
    @Test func theReadmeNamesEveryErrorThatIsNotRetried() throws {
        let readme = try String(contentsOfFile: #filePath.replacingOccurrences(of: "Tests/NFSTests/NFSOptionsTests.swift", with: "README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "Not retried, because another try cannot change them:"))
        let rest = readme[start.upperBound...]
        let paragraph = rest[..<(rest.range(of: "Everything else")?.lowerBound ?? rest.endIndex)]
        let named = Set(paragraph.matches(of: #/E[A-Z]+/#).map { String($0.0) })
        let permanent = Set((1..<134).map(Int32.init).filter(NFSErrors.isPermanent).map(NFSErrors.name))
        #expect(named == permanent, "README: \(named.sorted()), code: \(permanent.sorted())")
    }
}
