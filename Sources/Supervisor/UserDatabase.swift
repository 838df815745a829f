import BootConfig
import DocumentReading
import Processes

public struct UserDatabase: Sendable {
    struct PasswdEntry: Equatable { var name: String; var uid: UInt32; var gid: UInt32; var home: String }
    struct GroupEntry: Equatable { var name: String; var gid: UInt32; var members: [String] }

    var users: [PasswdEntry]
    var groups: [GroupEntry]

    /// Reads `root`/etc/passwd and `root`/etc/group; a missing file is an empty database.
    public init(root: String = "") {
        self.init(passwd: Self.readText(root + "/etc/passwd"), group: Self.readText(root + "/etc/group"))
    }

    public init(passwd: String, group: String) {
        users = Self.records(passwd).compactMap { fields in
            guard fields.count >= 6, let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else { return nil }
            return PasswdEntry(name: fields[0], uid: uid, gid: gid, home: fields[5])
        }
        groups = Self.records(group).compactMap { fields in
            guard fields.count >= 4, let gid = UInt32(fields[2]) else { return nil }
            return GroupEntry(name: fields[0], gid: gid, members: fields[3].split(separator: ",").map(String.init))
        }
    }

    /// Docker's rules: a numeric user without a passwd entry gets gid 0 and no other groups;
    /// a named user or group must exist.
    public func resolve(_ spec: UserSpec) -> Result<Credentials, LaunchError> {
        let entry: PasswdEntry?
        let uid: UInt32
        switch spec.user {
        case .id(let id):
            uid = id
            entry = users.first { $0.uid == id }
        case .name(let name):
            guard let found = users.first(where: { $0.name == name }) else {
                return .failure(.setup("app.user: no user \"\(name)\" in /etc/passwd"))
            }
            uid = found.uid
            entry = found
        }
        var gid = entry?.gid ?? 0
        switch spec.group {
        case .id(let id)?: gid = id
        case .name(let name)?:
            guard let group = groups.first(where: { $0.name == name }) else {
                return .failure(.setup("app.user: no group \"\(name)\" in /etc/group"))
            }
            gid = group.gid
        case nil: break
        }
        var supplementary: [UInt32] = [gid]
        if let name = entry?.name {
            for group in groups where group.members.contains(name) && !supplementary.contains(group.gid) {
                supplementary.append(group.gid)
            }
        }
        return .success(Credentials(uid: uid, gid: gid, groups: supplementary, home: entry?.home))
    }

    /// A missing or unreadable file is an empty database; no real passwd file nears 16 MiB.
    private static func readText(_ path: String) -> String {
        (try? FileContents.text(path, limit: 16 << 20)) ?? ""
    }

    /// The colon-separated fields of each line, comments and blank lines left out.
    private static func records(_ text: String) -> [[String]] {
        text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
            $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }
    }
}
