import Foundation
import MaitreConfig
import NIOCore
import NIOPosix
import XCTest

/// A loopback server that answers every connection with fixed bytes and closes.
final class GarbageServer: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private let thread: Thread

    init(reply: String) throws {
        let (fd, port) = try bindLoopbackSocket(listenBacklog: 16)
        self.fd = fd
        self.port = port
        thread = Thread {
            while true {
                let c = accept(fd, nil, nil)
                guard c >= 0 else {
                    // stop() shut the socket down: it is closed here, by the only thread that uses it, so that a
                    // later accept() can never reach another socket that reused the number.
                    close(fd)
                    return
                }
                var scratch = [UInt8](repeating: 0, count: 4096)
                _ = recv(c, &scratch, scratch.count, 0)
                _ = reply.withCString { send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                close(c)
            }
        }
        thread.start()
    }

    /// Wakes the accept loop (a shut-down listening socket fails accept() at once); the loop closes the fd.
    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
    }
}
