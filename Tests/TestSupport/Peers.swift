import Foundation

/// Where the tests' peers nobody here wrote are installed by scripts/install-deps.
public enum Peers {
    /// The venv's python3 (moto, boto3 and botocore, the AWS CLI, cbor2, aioquic; Debian's own
    /// packages visible too), else the PATH's python3 when the venv is not there.
    public static let python: String = {
        let venv = "/var/cache/enclave-init-peers/python/bin/python3"
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : "python3"
    }()
}
