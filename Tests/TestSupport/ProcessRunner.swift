import Foundation

/// Runs the enclave-init binary (or any program) and captures what it printed.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var output: String { stdout + stderr }
}

public enum ProcessRunner {
    /// The binary under test: $ENCLAVE_INIT_BINARY (scripts/test points it at the static
    /// dist/enclave-init), else the enclave-init that `swift build` put beside the test bundle.
    public static var binary: String {
        if let path = ProcessInfo.processInfo.environment["ENCLAVE_INIT_BINARY"], !path.isEmpty { return path }
        // On Linux the test bundle is …/debug/enclave-initPackageTests.xctest, beside the products.
        let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundleDirectory.appendingPathComponent("enclave-init").path
    }

    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           stdin: String? = nil) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = stdin.map { _ in Pipe() }
        process.standardInput = input ?? FileHandle.nullDevice
        try process.run()
        if let input, let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        }
        // Read both pipes concurrently so that a chatty child cannot fill one and block.
        let errorReader = ErrorReader(handle: err.fileHandleForReading)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errorReader.read() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return ProcessResult(status: status, stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errorReader.data, as: UTF8.self))
    }

    /// Runs `enclave-init ARGS`.
    public static func enclaveInit(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
        try run(binary, arguments, environment: environment)
    }

    private final class ErrorReader: @unchecked Sendable {
        let handle: FileHandle
        var data = Data()
        init(handle: FileHandle) { self.handle = handle }
        func read() { data = handle.readDataToEndOfFile() }
    }
}

/// A scratch directory removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    /// - Parameter base: where to create it. Tests that run enclave-init as PID 1 must not use
    ///   /tmp or /run: PID 1 mounts a fresh tmpfs there, hiding what the test put in them.
    public init(base: String = NSTemporaryDirectory()) throws {
        var template = Array((base + "/enclave-init-test-XXXXXX").utf8CString)
        guard mkdtemp(&template) != nil else { throw CocoaError(.fileWriteUnknown) }
        path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes `contents` to a file in this directory and returns its path.
    @discardableResult
    public func write(_ name: String, _ contents: String) throws -> String {
        let file = path + "/" + name
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    @discardableResult
    public func write(_ name: String, bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
