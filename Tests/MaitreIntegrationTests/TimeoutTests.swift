#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import NIOPosix
import XCTest

/// The client- and upstream-side timeouts, each set short and provoked with a peer that stalls, and each observed
/// alone: the outcome must come inside a time window only the timeout under test can explain.
final class TimeoutTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var harness: ProxyHarness?
    var backend: TestBackend?
    var stalled: StalledListener?

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        harness?.stop()
        backend?.stop()
        stalled?.stop()
        try? group.syncShutdownGracefully()
    }

    /// Each test sets the timeout it is about to 300 ms and every other timeout that could end the same
    /// exchange to 60 s, and requires the outcome between 300 ms and `upper` seconds after a moment no later than
    /// the one the proxy's timer starts from: only the timeout under test can produce it in that window.
    private static let upper = 2.0

    private func assertWithinWindow(_ elapsed: TimeInterval, lower: TimeInterval = 0.3, upper: TimeInterval = upper,
                                    _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThanOrEqual(elapsed, lower, "\(what) came too early: \(elapsed) s", file: file, line: line)
        XCTAssertLessThan(elapsed, upper, "\(what) came too late: \(elapsed) s", file: file, line: line)
    }

    /// A connection that sends nothing, and one that sends half a request head, are closed after
    /// client_header_timeout (300 ms), not keepalive_timeout (60 s).
    func testClientHeaderTimeoutClosesSilentAndHalfSentHeads() throws {
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    client_header_timeout 300ms;
                    keepalive_timeout 60s;
                    location / { return 200 "ok"; }
                }
            }
            """)
        var started = Date()  // before connect: the proxy's timer starts at accept
        let silent = try harness!.client(timeoutSeconds: 5)
        XCTAssertTrue(silent.isClosedByPeer(), "closed after client_header_timeout")
        assertWithinWindow(Date().timeIntervalSince(started), "closing a silent connection")

        started = Date()
        let halfHead = try harness!.client(timeoutSeconds: 5)
        try halfHead.send("GET / HTTP/1.1\r\nHost: a\r\n")
        XCTAssertTrue(halfHead.isClosedByPeer(), "closed after client_header_timeout")
        assertWithinWindow(Date().timeIntervalSince(started), "closing a connection with half a head")
    }

    /// An idle keep-alive connection is closed after keepalive_timeout (300 ms), not client_header_timeout (60 s).
    func testKeepaliveTimeoutClosesIdleConnection() throws {
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    client_header_timeout 60s;
                    keepalive_timeout 300ms;
                    location / { return 200 "ok"; }
                }
            }
            """)
        let idle = try harness!.client(timeoutSeconds: 5)
        let started = Date()  // before the request: the keep-alive timer starts after the response
        XCTAssertEqual(try idle.request("GET", "/").status, 200)
        XCTAssertTrue(idle.isClosedByPeer(), "closed after keepalive_timeout")
        assertWithinWindow(Date().timeIntervalSince(started), "closing an idle keep-alive connection")
    }

    /// A body that stops arriving: after client_body_timeout (300 ms) the connection closes without a response,
    /// as nginx's does (it logs 408 and sends nothing). The upstream timeouts are 60 s (it is waiting for the rest
    /// of the body, which never comes).
    func testClientBodyTimeout() throws {
        backend = try TestBackend(name: "b", group: group)
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    client_body_timeout 300ms;
                    keepalive_timeout 60s;
                    location / {
                        proxy_pass http://\(backend!.address);
                        proxy_read_timeout 60s;
                        proxy_send_timeout 60s;
                    }
                }
            }
            """)
        let client = try harness!.client(timeoutSeconds: 5)
        let started = Date()
        try client.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        let (bytes, _) = client.readUntilClose()
        assertWithinWindow(Date().timeIntervalSince(started), "the close")
        XCTAssertEqual(bytes, [], "no response")
    }

    /// An upstream that never answers: 504 after proxy_read_timeout (300 ms); connect and send timeouts are 60 s
    /// and the backend did get the request (so the connection was made).
    func testReadTimeoutAnswers504() throws {
        backend = try TestBackend(name: "b", group: group)
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / {
                        proxy_pass http://\(backend!.address);
                        proxy_read_timeout 300ms;
                        proxy_connect_timeout 60s;
                        proxy_send_timeout 60s;
                    }
                }
            }
            """)
        let client = try harness!.client(timeoutSeconds: 5)
        let started = Date()
        let r = try client.request("GET", "/slow/5000")
        assertWithinWindow(Date().timeIntervalSince(started), "the 504")
        XCTAssertEqual(r.status, 504)
        XCTAssertEqual(backend!.requests, 1, "the request reached the backend")
    }

    /// An upstream whose listening socket drops every SYN (a socket filter attached to it, see SynDroppingListener):
    /// the connect never completes, and proxy_connect_timeout (300 ms) answers 504. The read and send timeouts
    /// are 60 s, and no connection ever reached the listener's accept queue.
    func testConnectTimeoutAnswers504() throws {
        let blackhole = try SynDroppingListener()
        defer { blackhole.stop() }
        if let reason = blackhole.verifyDropsSyns() { throw XCTSkip(reason) }
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / {
                        proxy_pass http://127.0.0.1:\(blackhole.port);
                        proxy_connect_timeout 300ms;
                        proxy_read_timeout 60s;
                        proxy_send_timeout 60s;
                    }
                }
            }
            """)
        let client = try harness!.client(timeoutSeconds: 5)
        let started = Date()
        let r = try client.request("GET", "/")
        assertWithinWindow(Date().timeIntervalSince(started), "the 504")
        XCTAssertEqual(r.status, 504)
        XCTAssertFalse(blackhole.hasPendingConnection(), "a connection was established after all")
    }

    /// An upstream that accepts but never reads: the upload stalls and proxy_send_timeout (300 ms) answers 504.
    /// proxy_read_timeout and client_body_timeout are 60 s. The body goes out from its own thread so that the
    /// response is read (and timed) while the client is still sending.
    func testSendTimeoutAnswers504() throws {
        stalled = try StalledListener()
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    client_max_body_size 0;
                    client_body_timeout 60s;
                    location / {
                        proxy_pass http://127.0.0.1:\(stalled!.port);
                        proxy_send_timeout 300ms;
                        proxy_read_timeout 60s;
                    }
                }
            }
            """)
        let client = try harness!.client(timeoutSeconds: 10)
        let size = 64 << 20
        let started = Date()
        try client.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(size)\r\n\r\n")
        let sender = UncheckedSendable(value: client)
        let sent = DispatchSemaphore(value: 0)
        Thread {
            // Stalls once the upstream stops taking bytes; ends when the proxy discards the rest or closes.
            try? sender.value.sendRepeated(byte: 0, count: size)
            sent.signal()
        }.start()
        let r = try client.readResponse()
        assertWithinWindow(Date().timeIntervalSince(started), upper: 3.0, "the 504")
        XCTAssertEqual(r.status, 504)
        XCTAssertTrue(pollUntil(timeout: 5) { self.stalled!.acceptedCount == 1 }, "the upstream accepted the connection")
        XCTAssertEqual(sent.wait(timeout: .now() + 15), .success, "the sending thread finished")
    }
}

/// A loopback listening socket with a classic BPF filter that drops every packet (SO_ATTACH_FILTER, allowed to
/// any process on its own sockets). The kernel runs a listener's filter on each incoming SYN before the TCP
/// state machine sees it, so connects to it stay in SYN-SENT and never complete: a peer that never answers,
/// without firewall rules and without relying on what the kernel does when an accept queue is full
/// (syncookies and tcp_abort_on_overflow change that).
final class SynDroppingListener {
    let fd: Int32
    let port: Int
    let filterAttached: Bool

    init() throws {
        let (fd, port) = try bindLoopbackSocket(listenBacklog: nil)
        self.fd = fd
        self.port = port
        // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }: BPF_RET | BPF_K with k = 0, "keep 0 bytes".
        var instruction: (UInt16, UInt8, UInt8, UInt32) = (0x06, 0, 0, 0)
        filterAttached = withUnsafeMutableBytes(of: &instruction) { filter -> Bool in
            // struct sock_fprog { unsigned short len; struct sock_filter *filter; } on LP64: pointer at offset 8.
            var program = [UInt8](repeating: 0, count: 16)
            program.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: UInt16(1), toByteOffset: 0, as: UInt16.self)
                raw.storeBytes(of: filter.baseAddress, toByteOffset: 8, as: UnsafeMutableRawPointer?.self)
            }
            return setsockopt(fd, SOL_SOCKET, 26 /* SO_ATTACH_FILTER */, &program, socklen_t(program.count)) == 0
        }
        guard listen(fd, 16) == 0 else {
            close(fd)
            throw TestHTTPClient.Failure(description: "listen() failed: \(errno)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    /// Checks with a connect of its own that SYNs really go unanswered for 500 ms; the reason when not.
    func verifyDropsSyns() -> String? {
        guard filterAttached else {
            return "cannot attach a socket filter (SO_ATTACH_FILTER failed: \(errno)): no loopback peer that drops SYNs"
        }
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        defer { close(probe) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc == 0 { return "a connect to the filtered listener completed at once: SYNs are not dropped here" }
        guard errno == EINPROGRESS else { return "probe connect failed with errno \(errno)" }
        var poller = pollfd(fd: probe, events: Int16(POLLOUT), revents: 0)
        let ready = poll(&poller, 1, 500)
        if ready != 0 {
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(probe, SOL_SOCKET, SO_ERROR, &error, &length)
            return "a connect to the filtered listener ended within 500 ms (SO_ERROR \(error)): SYNs are not dropped here"
        }
        return hasPendingConnection() ? "the filtered listener queued a connection" : nil
    }

    /// True when a completed connection waits in the accept queue (it is taken and closed).
    func hasPendingConnection() -> Bool {
        let c = accept(fd, nil, nil)
        if c >= 0 { close(c); return true }
        return false
    }

    func stop() { close(fd) }
}

/// A loopback TCP listener that accepts connections and never reads from them. Its mutable state is guarded by
/// `stopped`, hence the unchecked Sendable.
final class StalledListener: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private var held: [Int32] = []
    private var accepted = 0
    private var acceptor: Thread?
    private let stopped = NSLock()
    private var isStopped = false

    init() throws {
        let (fd, port) = try bindLoopbackSocket(listenBacklog: 16)
        self.fd = fd
        self.port = port
        startAccepting()
    }

    var acceptedCount: Int {
        stopped.lock()
        defer { stopped.unlock() }
        return accepted
    }

    private func startAccepting() {
        let listener = fd
        let thread = Thread { [weak self] in
            while true {
                let c = accept(listener, nil, nil)
                guard c >= 0, let self else { return }
                self.stopped.lock()
                if self.isStopped { self.stopped.unlock(); close(c); return }
                self.held.append(c)
                self.accepted += 1
                self.stopped.unlock()
            }
        }
        thread.start()
        acceptor = thread
    }

    func stop() {
        stopped.lock()
        isStopped = true
        let sockets = held
        held = []
        stopped.unlock()
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        for c in sockets { close(c) }
    }
}
