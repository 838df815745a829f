/// The version every command reports (--version, the boot's first line, an image's metadata).
public enum BuildInfo {
    public static let version = "0.1.0"
}
