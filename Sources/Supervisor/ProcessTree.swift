import Processes
import DocumentReading
import Glibc
import PID1

/// Our children and their descendants: reaping, and finding everything left to signal.
public enum ProcessTree {
    public struct Reaped: Sendable, Equatable {
        public var pid: pid_t
        public var status: TerminationStatus
    }

    /// Processes that were already our children when enclave-init started: a wrapper (a test
    /// harness, a script) started them and then exec'd us. They are not the app's, so shutdown
    /// neither signals nor waits for them; they end with the power-off. Set once at boot,
    /// before the supervisor runs; read and pruned on the supervisor's thread only.
    nonisolated(unsafe) private static var inherited: Set<pid_t> = []

    /// Records the children we have before spawning anything; returns them (sorted).
    public static func recordInherited() -> [pid_t] {
        guard PIDNamespace.procfsMatchesOurs else { return [] }
        inherited = Set(directChildren())
        return inherited.sorted()
    }

    /// Our children from /proc/self/task/*/children, which the kernel keeps for us, rather than
    /// a walk over every process of the machine (milliseconds when not in a PID namespace).
    private static func directChildren() -> [pid_t] {
        guard let tasks = opendir("/proc/self/task") else { return [] }
        defer { closedir(tasks) }
        var children: [pid_t] = []
        var sawChildrenFile = false
        while let entry = readdir(tasks) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard pid_t(name) != nil, let text = try? FileContents.read("/proc/self/task/\(name)/children", limit: 1 << 20) else { continue }
            sawChildrenFile = true
            children += String(decoding: text, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pid_t($0) }
        }
        if sawChildrenFile { return children }
        let me = getpid() // a kernel without CONFIG_PROC_CHILDREN: the full walk
        return parentMap().filter { $0.value == me }.map(\.key)
    }

    /// Reaps every child that has ended. Coalesced SIGCHLDs are why this loops until
    /// waitpid says there is nothing more, rather than reaping once per signal.
    public static func reapAll() -> [Reaped] {
        var reaped: [Reaped] = []
        while true {
            var raw: Int32 = 0
            let pid = waitpid(-1, &raw, WNOHANG)
            if pid > 0 {
                if let status = TerminationStatus(waitStatus: raw) { reaped.append(Reaped(pid: pid, status: status)) }
                inherited.remove(pid) // its number may come back for a process of the app
                continue
            }
            if pid < 0 && errno == EINTR { continue }
            return reaped // 0: children remain, none ended; -1 ECHILD: no children at all
        }
    }

    /// True while any child of ours (running or ended but not yet reaped) exists, leaving out
    /// the inherited ones.
    public static var hasChildren: Bool {
        if !inherited.isEmpty && PIDNamespace.procfsMatchesOurs {
            let me = getpid()
            return parentMap().contains { $0.value == me && !inherited.contains($0.key) }
        }
        var info = siginfo_t()
        return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0
    }

    /// Sends `signal` to everything left below us and says how many were signalled (nil: all
    /// processes of our PID namespace, count unknown). Orphans have been re-parented to us (PID 1
    /// or child subreaper), so this is everything we are responsible for.
    @discardableResult
    public static func signalDescendants(_ signal: Int32, appGroup: pid_t?) -> Int? {
        if let appGroup { kill(-appGroup, signal) }
        if PIDNamespace.procfsMatchesOurs {
            let pids = descendants()
            pids.forEach { kill($0, signal) }
            return pids.count
        }
        if getpid() == 1 {
            kill(-1, signal) // as a namespace's init: every process of the namespace but us
            return nil
        }
        return appGroup == nil ? 0 : nil // without a usable /proc only the app's group is known
    }

    /// Every descendant of `ancestor` (default: this process), from /proc, without the inherited
    /// children's subtrees; empty when /proc belongs to another PID namespace.
    public static func descendants(of ancestor: pid_t = getpid()) -> [pid_t] {
        guard PIDNamespace.procfsMatchesOurs else { return [] }
        let parents = parentMap()
        var result: [pid_t] = []
        var frontier = [ancestor]
        let me = getpid()
        while let current = frontier.popLast() {
            for (pid, parent) in parents where parent == current && !(current == me && inherited.contains(pid)) {
                result.append(pid)
                frontier.append(pid)
            }
        }
        return result
    }

    /// pid -> parent pid for every process visible in /proc.
    private static func parentMap() -> [pid_t: pid_t] {
        guard let directory = opendir("/proc") else { return [:] }
        defer { closedir(directory) }
        var map: [pid_t: pid_t] = [:]
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name), let parent = parentPID(of: pid) else { continue }
            map[pid] = parent
        }
        return map
    }

    /// Field 4 of /proc/PID/stat; the command name (field 2) may contain spaces and parentheses,
    /// so parse from the last ')'.
    private static func parentPID(of pid: pid_t) -> pid_t? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = read(fd, &buffer, buffer.count)
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? pid_t(fields[1]) : nil
    }
}
