#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small whole-file reads and writes: the pid file `-s` reads to find the running maitred, the demo's config.
enum SmallFile {
    struct Failure: Error {
        let message: String
    }

    static func write(_ path: String, pid: Int32) -> Result<Void, Failure> {
        writeText("\(pid)\n", to: path)
    }

    static func writeText(_ text: String, to path: String) -> Result<Void, Failure> {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .failure(failure("open()", path)) }
        defer { close(fd) }
        let written = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard written == text.utf8.count else { return .failure(failure("write()", path)) }
        return .success(())
    }

    static func read(_ path: String) -> Result<String, Failure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(failure("open()", path)) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = Glibc.read(fd, &buffer, buffer.count)
        guard n >= 0 else { return .failure(failure("read()", path)) }
        return .success(String(decoding: buffer[..<n], as: UTF8.self))
    }

    /// Removes the file only when it still names this process (a newer maitred may have replaced it).
    static func remove(_ path: String, pid: Int32) {
        if case .success(let text) = read(path), Int32(text.trimmingWhitespace()) == pid {
            unlink(path)
        }
    }

    private static func failure(_ call: String, _ path: String) -> Failure {
        let code = errno
        return Failure(message: "\(call) \"\(path)\" failed (\(code): \(String(cString: strerror(code))))")
    }
}
