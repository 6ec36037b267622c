#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `daemon on`: the process forks before it starts anything (no thread exists yet), the child becomes a session
/// leader with standard input and output on /dev/null, and the parent waits until the child says it is serving
/// (or why it is not) before it exits with the matching status — so a bind failure still reaches the terminal and
/// the exit code, as with nginx, which daemonizes after opening its sockets.
enum Detach {
    /// In the child: where to report readiness. nil when not detached.
    nonisolated(unsafe) private static var readyDescriptor: Int32 = -1

    /// Returns the parent's exit status, or nil in the child (which goes on to run).
    static func detach() -> Int32? {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            Console.error("maitred: [emerg] pipe() failed (\(errno): \(String(cString: strerror(errno))))")
            return 1
        }
        let pid = fork()
        if pid < 0 {
            Console.error("maitred: [emerg] fork() failed (\(errno): \(String(cString: strerror(errno))))")
            return 1
        }
        if pid > 0 {
            close(fds[1])
            var status: UInt8 = 1
            let n = read(fds[0], &status, 1)
            close(fds[0])
            // No byte: the child died before it could say; its own messages went to standard error.
            return n == 1 ? Int32(status) : 1
        }
        close(fds[0])
        readyDescriptor = fds[1]
        closeInheritedDescriptors(keeping: fds[1])
        _ = setsid()
        let null = open("/dev/null", O_RDWR)
        if null >= 0 {
            dup2(null, 0)
            dup2(null, 1)
            if null > 2 { close(null) }
        }
        return nil
    }

    /// Descriptors the starting process inherited (a supervisor's pipes or sockets) must not be held by the
    /// daemon: whoever waits for the starter's output to end would wait for the daemon's lifetime.
    private static func closeInheritedDescriptors(keeping kept: Int32) {
        guard let directory = opendir("/proc/self/fd") else { return }
        var open: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if let fd = Int32(name), fd > 2, fd != kept { open.append(fd) }
        }
        let listing = dirfd(directory)
        closedir(directory)
        for fd in open where fd != listing { close(fd) }
    }

    /// The child is serving (status 0) or gave up (non-zero): the waiting parent exits with it. Standard error
    /// goes to /dev/null from here, as nginx's does once its log is open.
    static func report(_ status: Int32) {
        guard readyDescriptor >= 0 else { return }
        var byte = UInt8(clamping: status)
        _ = write(readyDescriptor, &byte, 1)
        close(readyDescriptor)
        readyDescriptor = -1
        if status == 0 {
            let null = open("/dev/null", O_RDWR)
            if null >= 0 {
                dup2(null, 2)
                if null > 2 { close(null) }
            }
        }
    }
}
