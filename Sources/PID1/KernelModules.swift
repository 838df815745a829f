import CSupport
import DocumentReading
import Glibc
import SystemPackage

/// `/modules_load_order` (nitro-cli 2.0's file, and `build --kernel-modules`'): one module file
/// per line, relative to `/`, dependencies first, nsm last. As the enclave's own init,
/// enclave-init loads them in that order before anything needs vsock or /dev/nsm, as nitro-cli
/// 2.0's init does: a modular kernel (AL2023's, Debian's) has no vsock without them. A file
/// ending in .xz, .zst or .gz is handed to the kernel to decompress (finit_module's
/// MODULE_INIT_COMPRESSED_FILE).
public enum KernelModules {
    public static let orderFile = "/modules_load_order"
    static let compressedFile: Int32 = 4

    public struct Report: Sendable, Equatable {
        public var loaded: [String] = []
        /// EEXIST: built in, or loaded already.
        public var present: [String] = []
        /// Each module that failed, with the kernel's reason.
        public var failed: [(name: String, errno: Int32)] = []

        public static func == (a: Report, b: Report) -> Bool {
            a.loaded == b.loaded && a.present == b.present && a.failed.map(\.name) == b.failed.map(\.name) && a.failed.map(\.errno) == b.failed.map(\.errno)
        }

        public var description: String {
            var parts = ["loaded \(loaded.count) module\(loaded.count == 1 ? "" : "s") from \(KernelModules.orderFile)"
                         + (loaded.isEmpty ? "" : " (\(loaded.joined(separator: " ")))")]
            if !present.isEmpty { parts.append("present already: \(present.joined(separator: " "))") }
            for failure in failed { parts.append("\(failure.name) FAILED: \(KernelModules.reason(failure.errno))") }
            return parts.joined(separator: "; ")
        }
    }

    public enum ListFailure: Error, Equatable, CustomStringConvertible {
        case unreadable(errno: Int32)
        case badLine(number: Int, text: String)

        public var description: String {
            switch self {
            case .unreadable(let code): return "cannot read \(KernelModules.orderFile): \(String(cString: strerror(code)))"
            case .badLine(let number, let text):
                return "\(KernelModules.orderFile) line \(number): \"\(text.prefix(80))\" is not a module file under / (no \"..\", ends in .ko, .ko.xz, .ko.zst or .ko.gz)"
            }
        }
    }

    /// The module files the order file names, in order; nil when there is no order file.
    public static func listed(orderFile: String = orderFile, root: String = "") throws(ListFailure) -> [String]? {
        let bytes: [UInt8]
        do {
            bytes = try FileContents.read(root + orderFile, limit: 1 << 20)
        } catch let error as Errno {
            if error == .noSuchFileOrDirectory { return nil }
            throw .unreadable(errno: error.rawValue)
        } catch {
            throw .unreadable(errno: EFBIG)
        }
        var files: [String] = []
        for (index, raw) in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let name = line.hasPrefix("/") ? String(line.dropFirst()) : line
            guard !name.split(separator: "/").contains(".."), [".ko", ".ko.xz", ".ko.zst", ".ko.gz"].contains(where: name.hasSuffix) else {
                throw .badLine(number: index + 1, text: line)
            }
            files.append(name)
        }
        return files
    }

    /// Loads `files` (relative to `root`, "/" by default) in order; a failure does not stop the
    /// rest (the caller decides from what exists afterwards whether the boot can go on).
    public static func load(_ files: [String], root: String = "") -> Report {
        var report = Report()
        for file in files {
            let compressed = [".xz", ".zst", ".gz"].contains(where: file.hasSuffix)
            if ei_load_module(root + "/" + file, compressed ? compressedFile : 0) == 0 {
                report.loaded.append(file)
            } else if errno == EEXIST {
                report.present.append(file)
            } else {
                report.failed.append((file, errno))
            }
        }
        return report
    }

    /// What an errno from finit_module means here.
    static func reason(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        switch code {
        case ENOENT: return "\(text) (the file is not in the image)"
        case ENOEXEC: return "\(text) (not a module for this kernel: another version, or a compressed module the kernel cannot decompress)"
        case EINVAL: return "\(text) (the kernel refused it: a module for another kernel, or a compression it was not built with)"
        case ENOKEY, EKEYREJECTED: return "\(text) (the kernel requires signed modules)"
        case EPERM: return "\(text) (module loading is disabled or needs CAP_SYS_MODULE)"
        default: return text
        }
    }

    /// Whether this kernel has AF_VSOCK now (socket(2) says EAFNOSUPPORT when it has not).
    public static var vsockAvailable: Bool {
        let fd = socket(40 /* AF_VSOCK */, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd >= 0 { close(fd) }
        return fd >= 0 || errno != EAFNOSUPPORT
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }
}
