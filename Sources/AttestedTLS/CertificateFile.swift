import Addressing
import Glibc

/// The certificate chain for the app (`tls.certificate_file`): PEM, mode 0644, missing parent
/// directories made. Written to a new file and renamed over the old, so that an app reading it
/// during a renewal sees the old chain or the new, never half of one. Never the key.
enum CertificateFile {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func write(_ pem: String, to path: String) throws(Failure) {
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        var made = ""
        for component in directory.split(separator: "/") {
            made += "/" + component
            if mkdir(made, 0o755) != 0 && errno != EEXIST {
                throw Failure(description: "cannot make \(made): \(String(cString: strerror(errno)))")
            }
        }
        let temporary = path + ".new"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let written = BlockingIO.writeAll(fd, Array(pem.utf8)) && fchmod(fd, 0o644) == 0
        let problem = String(cString: strerror(errno))
        close(fd)
        guard written, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Failure(description: "cannot write the certificate chain to \(path): \(problem)")
        }
    }
}
