import Addressing
import Glibc
import KMS

/// The instance role's temporary credentials from IMDSv2: a session token (PUT), the role's
/// name, then its credentials document. ENCLAVE_INIT_IMDS_ENDPOINT=ADDRESS:PORT points it at a
/// stand-in (tests); the default is the link-local 169.254.169.254:80.
struct IMDSClient: Sendable {
    static let environmentVariable = "ENCLAVE_INIT_IMDS_ENDPOINT"
    static let tokenTTLSeconds = 21_600

    var address: IPv4Address
    var port: UInt16

    static func configured() -> Result<IMDSClient, KMSFailure> {
        guard let text = getenv(environmentVariable).map({ String(cString: $0) }), !text.isEmpty else {
            return .success(IMDSClient(address: IPv4Address("169.254.169.254")!, port: 80))
        }
        guard case .success(let hostPort) = HostPort.parse(text), case .v4(let address)? = hostPort.address else {
            return .failure(.unreachable("\(environmentVariable)=\(text) is not IPV4ADDRESS:PORT"))
        }
        return .success(IMDSClient(address: address, port: hostPort.port))
    }

    /// Every failure is `.noCredentials`, naming IMDS (the enclave reports it as the parent's).
    func credentials() throws(KMSFailure) -> AWSCredentials {
        do {
            return try fetch()
        } catch .unreachable(let reason) {
            // The reason names the address already ("connect to 169.254.169.254:80: …").
            throw .noCredentials("IMDS: \(reason)")
        } catch .protocolError(let reason) {
            throw .noCredentials("IMDS at \(address):\(port) answered outside HTTP: \(reason)")
        }
    }

    private func fetch() throws(KMSFailure) -> AWSCredentials {
        let tokenReply = try PlainHTTP.exchange(address: address, port: port, method: "PUT", path: "/latest/api/token",
                                                headers: [("X-aws-ec2-metadata-token-ttl-seconds", String(Self.tokenTTLSeconds))])
        guard tokenReply.status == 200, !tokenReply.body.isEmpty else {
            throw .noCredentials("IMDS (\(address):\(port)) gave no session token (HTTP \(tokenReply.status))")
        }
        let token = String(decoding: tokenReply.body.filter { $0 > 32 && $0 < 127 }, as: UTF8.self)
        let header = [("X-aws-ec2-metadata-token", token)]
        let base = "/latest/meta-data/iam/security-credentials/"
        let rolesReply = try PlainHTTP.exchange(address: address, port: port, method: "GET", path: base, headers: header)
        guard rolesReply.status == 200,
              let role = String(decoding: rolesReply.body, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == "\r" }).first.map(String.init),
              !role.isEmpty, role.unicodeScalars.allSatisfy({ $0.value > 32 && $0.value < 127 && $0 != "/" }) else {
            throw .noCredentials("the instance has no IAM role (IMDS answered HTTP \(rolesReply.status) for \(base)); attach an instance profile")
        }
        let document = try PlainHTTP.exchange(address: address, port: port, method: "GET", path: base + role, headers: header)
        guard document.status == 200 else { throw .noCredentials("IMDS answered HTTP \(document.status) for role \(role)'s credentials") }
        do {
            return try AWSCredentials.parse(document.body, source: "role \(role)")
        } catch {
            throw .noCredentials("IMDS's credentials for role \(role): \(error)")
        }
    }
}
