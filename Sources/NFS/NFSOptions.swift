import BootConfig

/// The kernel's text options for an nfs4 mount(2), so the image needs no mount.nfs helper.
public enum NFSOptions {
    /// Ours first, then the user's `options`. A key the user gives replaces ours (the kernel
    /// would take the last one anyway; dropping ours keeps the logged line truthful).
    /// `vers=4.2` unless the user names a version; `clientaddr` only for NFSv4.0, which
    /// needs a callback address (the enclave's own side of the connection is 127.0.0.1).
    public static func text(for mount: Mount) -> String {
        let user = mount.options.split(separator: ",").map(String.init)
        let userKeys = Set(user.map { key(of: $0) })
        let version = user.first { ["vers", "nfsvers"].contains(key(of: $0)) }.map { value(of: $0) } ?? "4.2"
        var ours = ["vers=4.2", "addr=\(mount.server)", "port=\(mount.port)", "proto=tcp"]
        if version == "4" || version == "4.0" { ours.append("clientaddr=127.0.0.1") }
        let kept = ours.filter { !userKeys.contains(key(of: $0)) && !(key(of: $0) == "vers" && userKeys.contains("nfsvers")) }
        return (kept + user).joined(separator: ",")
    }

    /// `SERVER:EXPORT`, the device string of an NFS mount.
    public static func source(for mount: Mount) -> String { "\(mount.server):\(mount.export)" }

    static func key(of option: String) -> String {
        option.split(separator: "=", maxSplits: 1).first.map(String.init) ?? option
    }

    static func value(of option: String) -> String {
        let parts = option.split(separator: "=", maxSplits: 1)
        return parts.count == 2 ? String(parts[1]) : ""
    }
}
