#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import MaitreBalancing
import NIOPosix

/// Reads and writes upstreams' `state` files. Writes run on NIO's shared thread pool, never on an event loop, and
/// are atomic (a temporary file in the same directory, fsync, rename): a crash leaves the old file or the new one,
/// never half of one. Writes of one path are serialized and coalesced: only the newest text is written.
final class StateFileStore: Sendable {
    private struct Pending {
        /// The newest text per path not written yet.
        var texts: [String: String] = [:]
        /// Paths a pool thread is writing now.
        var writing: Set<String> = []
    }

    private let pending = NIOLockedValueBox(Pending())
    private let report: @Sendable (String) -> Void

    /// `report` receives failures in the error log's words.
    init(report: @escaping @Sendable (String) -> Void) {
        self.report = report
    }

    /// Reads a state file; nil when it does not exist yet. Used at start and reload (off the event loops).
    static func read(_ path: String) -> Result<String?, StateFileError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return .success(nil) }
            return .failure(.system("open()", path, errno))
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = Glibc.read(fd, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(.system("read()", path, errno))
            }
            if count == 0 { break }
            bytes += chunk[..<count]
            if bytes.count > 1 << 20 { return .failure(.tooLarge(path)) }
        }
        return .success(String(decoding: bytes, as: UTF8.self))
    }

    /// Schedules `text` to be written to `path`.
    func write(_ text: String, to path: String) {
        let start = pending.withLockedValue { pending -> Bool in
            pending.texts[path] = text
            return pending.writing.insert(path).inserted
        }
        guard start else { return }  // the thread writing this path takes the new text when it is done
        NIOThreadPool.singleton.submit { [self] _ in
            while let next = pending.withLockedValue({ pending -> String? in
                guard let text = pending.texts.removeValue(forKey: path) else {
                    pending.writing.remove(path)
                    return nil
                }
                return text
            }) {
                if case .failure(let error) = Self.writeAtomically(next, to: path) { report(error.description) }
            }
        }
    }

    /// Waits until every scheduled write is done (tests, shutdown).
    func waitForWrites() {
        while pending.withLockedValue({ !$0.writing.isEmpty }) { usleep(1_000) }
    }

    static func writeAtomically(_ text: String, to path: String) -> Result<Void, StateFileError> {
        let temporary = path + ".tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return .failure(.system("open()", temporary, errno)) }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return Glibc.write(fd, base + offset, raw.count - offset)
            }
            if count < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(fd)
                unlink(temporary)
                return .failure(.system("write()", temporary, code))
            }
            offset += count
        }
        if fsync(fd) != 0 {
            let code = errno
            close(fd)
            unlink(temporary)
            return .failure(.system("fsync()", temporary, code))
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            return .failure(.system("rename()", path, code))
        }
        return .success(())
    }
}

enum StateFileError: Error, CustomStringConvertible {
    case system(String, String, Int32)
    case tooLarge(String)
    case invalid(String, PeerStateFile.LineError)

    var description: String {
        switch self {
        case .system(let call, let path, let code):
            "\(call) \"\(path)\" failed (\(code): \(String(cString: strerror(code))))"
        case .tooLarge(let path): "state file \"\(path)\" is over 1 MiB"
        case .invalid(let path, let error): "\(error.message) in state file \"\(path)\":\(error.line)"
        }
    }
}
