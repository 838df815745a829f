import Glibc

/// enclave-init's own environment, as "KEY=value" strings in their original order.
public enum ProcessEnvironment {
    public static func entries() -> [String] {
        var result: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            result.append(String(cString: entry))
            cursor += 1
        }
        return result
    }

    public static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
