import CSupport

/// The version every command reports (--version, the boot's first line, an image's metadata),
/// and the commit it was built from. One place holds the version: the VERSION file, which
/// scripts/build-static stamps into the binary with the commit (CSupport/build_stamp.c); a
/// build it did not stamp (`swift build`, the tests) says so.
public enum BuildInfo {
    /// "VERSION COMMIT" as stamped; nil when unstamped.
    static let stamp: (version: String, commit: String)? = {
        var buffer = [CChar](repeating: 0, count: 128)
        ei_copy_build_stamp(&buffer, UInt(buffer.count))
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard !text.hasPrefix("@@") else { return nil }
        let words = text.split(separator: " ", maxSplits: 1).map(String.init)
        return (words.first ?? "", words.count > 1 ? words[1] : "unknown")
    }()

    /// "0.1.0"; "unstamped" in a build scripts/build-static did not make.
    public static var version: String { stamp?.version ?? "unstamped" }

    /// The commit ("3f2a1c9", "-dirty" when the tree had changes), when stamped.
    public static var commit: String? { stamp?.commit }

    /// What --version prints: "0.1.0 (commit 3f2a1c9)".
    public static var versionLine: String {
        guard let stamp else { return "unstamped (built without scripts/build-static, which stamps the version and commit)" }
        return "\(stamp.version) (commit \(stamp.commit))"
    }
}
