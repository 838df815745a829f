import BootConfig
import DocumentReading
import Testing
import TestSupport

/// The shared tables, checked through the library: each invalid config names the exact path.
@Suite struct ConfigTableTests {
    @Test func tablesAreLargeEnough() {
        #expect(invalidConfigs.count >= 40)
        #expect(validConfigs.count >= 10)
    }

    /// The KMS route cases too: the validator asks Policy for the route, so the library (and
    /// with it `parent serve`) refuses them, not the enclave's commands alone.
    @Test(arguments: invalidConfigs + unreachableKMSConfigs)
    func invalidConfigIsRejectedAtItsPath(_ testCase: InvalidConfigCase) {
        do {
            let config = try BootConfigLoader.decode(Array(testCase.json.utf8))
            Issue.record("accepted: \(config)")
        } catch {
            let match = error.issues.first { $0.path.description == testCase.path && $0.description.contains(testCase.message) }
            #expect(match != nil, "expected \(testCase.path): …\(testCase.message)…, got:\n\(error)")
        }
    }

    /// Each mistake users make gets a message that says what to write instead.
    @Test(arguments: userMistakes)
    func aMistakeIsAnsweredWithItsFix(_ testCase: UserMistakeCase) {
        do {
            let config = try BootConfigLoader.decode(Array(testCase.json.utf8))
            Issue.record("accepted: \(config)")
        } catch {
            let texts = error.issues.filter { $0.path.description == testCase.path }.map(\.description).joined(separator: "\n")
            for fragment in testCase.says { #expect(texts.contains(fragment), "\(fragment) not in:\n\(error)") }
            if let count = testCase.issueCount { #expect(error.issues.count == count, "\(error)") }
        }
    }

    /// Several bad mount options are all named at once, and the checks across fields still run.
    @Test func everyBadMountOptionAndTheMissingMappingAreReportedTogether() throws {
        let mistake = try #require(userMistakes.first { $0.name.hasPrefix("several bad mount options") })
        do {
            _ = try BootConfigLoader.decode(Array(mistake.json.utf8))
            Issue.record("accepted")
        } catch {
            let messages = error.issues.map(\.description)
            #expect(messages.filter { $0.hasPrefix("mounts[0].options") }.count == 3, "\(error)")
            #expect(messages.contains { $0.contains("vers=3") } && messages.contains { $0.contains("\"proto\" is set by enclave-init") }, "\(error)")
            #expect(messages.contains { $0.hasPrefix("mounts[0].server") && $0.contains("no hosts[] mapping serves 127.0.0.201:2049") }, "\(error)")
        }
    }

    @Test(arguments: validConfigs)
    func validConfigIsAccepted(_ testCase: ValidConfigCase) throws {
        let config = try BootConfigLoader.decode(Array(testCase.json.utf8),
                                                 commandOverride: testCase.commandOverride.isEmpty ? nil : testCase.commandOverride)
        #expect(!config.app.command.isEmpty)
        if !testCase.commandOverride.isEmpty { #expect(config.app.command == testCase.commandOverride) }
    }

    @Test func everyErrorIsReportedAtOnce() throws {
        let json = """
        {"version": 1, "parent_cid": 0, "hosts": [{"names": ["a.example"], "address": "10.0.0.1", "port": 0, "vsock_port": 1}],
         "app": {"command": ["/x"], "user": "a:b:c", "workdir": "rel"}}
        """
        #expect(throws: ConfigError.self) { try BootConfigLoader.decode(Array(json.utf8)) }
        do {
            _ = try BootConfigLoader.decode(Array(json.utf8))
        } catch {
            #expect(error.issues.map(\.path.description) == ["parent_cid", "hosts[0].address", "hosts[0].port", "app.user", "app.workdir"])
            #expect(error.issues.allSatisfy { $0.location != nil })
        }
    }

    @Test func crossFieldErrorsUseTheIndexAsWritten() {
        // hosts[0] is invalid and dropped; the clash between hosts[1] and hosts[2] must still say 1 and 2.
        let json = withBase(#""hosts": [{"names": ["x.example"], "address": "1.2.3.4", "port": 1, "vsock_port": 1}, {"names": ["a.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8000}, {"names": ["b.example"], "address": "127.0.0.2", "port": 443, "vsock_port": 8001}]"#)
        do {
            _ = try BootConfigLoader.decode(Array(json.utf8))
            Issue.record("accepted")
        } catch {
            #expect(error.issues.map(\.path.description) == ["hosts[0].address", "hosts[2].port"])
            #expect(error.issues.last?.message == "listener 127.0.0.2:443 is already used by hosts[1].port")
            #expect(error.issues.last?.location == SourceLocation(line: 1, column: 277))
        }
    }

    /// An ingress to the attestation endpoint is how a relying party outside reaches it
    /// (`enclave-init verify --endpoint`): said with "attestation": true, never by pointing
    /// `port` at it (that stays an error: the app could not listen there); an ingress to another
    /// of enclave-init's listeners is still refused at the ingress entry.
    @Test func anIngressMayTargetTheAttestationEndpointButNoOtherListenerOfEnclaveInit() throws {
        let attestation = withBase(#""attestation": {"port": 7777}, "ingress": [{"vsock_port": 5000, "attestation": true, "host_port": 17777}]"#)
        let config = try BootConfigLoader.decode(Array(attestation.utf8))
        #expect(config.ingress.first?.port == 7777)
        #expect(config.ingress.first?.toAttestation == true)
        #expect(config.ingress.first?.hostPort == 17777)
        let egress = withBase(#""egress": {"port": 3128, "vsock_port": 8001, "allow": ["a.example:443"]}, "ingress": [{"vsock_port": 5000, "port": 3128, "host_port": 3128}]"#)
        do {
            _ = try BootConfigLoader.decode(Array(egress.utf8))
            Issue.record("an ingress to the egress proxy's port was accepted")
        } catch {
            #expect(error.issues.last?.path.description == "ingress[0].port")
            #expect(error.issues.last?.message.contains("is already used by egress.port") == true, "\(error)")
        }
    }

    @Test func missingFileIsAConfigError() {
        do {
            _ = try BootConfigLoader.load(path: "/nonexistent/boot.json")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.description.contains("cannot read the config: No such file or directory"))
            #expect(error.issues.first?.hint?.contains("--config") == true)
        }
    }
}
