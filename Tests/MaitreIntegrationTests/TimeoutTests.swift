#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NIOCore
import NIOPosix
import XCTest

/// The client- and upstream-side timeouts, each set short and provoked with a peer that stalls.
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

    /// A connection that never sends a request is closed after client_header_timeout; an idle keep-alive
    /// connection after keepalive_timeout.
    func testHeaderAndKeepaliveTimeoutsCloseIdleClients() throws {
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    client_header_timeout 300ms;
                    keepalive_timeout 400ms;
                    location / { return 200 "ok"; }
                }
            }
            """)
        let silent = try harness!.client(timeoutSeconds: 5)
        XCTAssertTrue(silent.isClosedByPeer(), "closed after client_header_timeout")

        let idle = try harness!.client(timeoutSeconds: 5)
        XCTAssertEqual(try idle.request("GET", "/").status, 200)
        XCTAssertTrue(idle.isClosedByPeer(), "closed after keepalive_timeout")
    }

    /// A body that stops arriving: 408 after client_body_timeout, then the connection closes.
    func testClientBodyTimeout() throws {
        backend = try TestBackend(name: "b", group: group)
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    client_body_timeout 300ms;
                    location / { proxy_pass http://\(backend!.address); }
                }
            }
            """)
        let client = try harness!.client(timeoutSeconds: 5)
        try client.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        let r = try client.readResponse()
        XCTAssertEqual(r.status, 408)
        XCTAssertTrue(client.isClosedByPeer())
    }

    /// An upstream that accepts nothing (its accept queue is full): 504 after proxy_connect_timeout.
    func testConnectTimeoutAnswers504() throws {
        stalled = try StalledListener(fillAcceptQueue: true)
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://127.0.0.1:\(stalled!.port); proxy_connect_timeout 300ms; }
                }
            }
            """)
        let r = try harness!.get("/")
        XCTAssertEqual(r.status, 504)
    }

    /// An upstream that accepts but never reads: the upload stalls and proxy_send_timeout answers 504.
    func testSendTimeoutAnswers504() throws {
        stalled = try StalledListener(fillAcceptQueue: false)
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    client_max_body_size 0;
                    location / { proxy_pass http://127.0.0.1:\(stalled!.port); proxy_send_timeout 300ms; }
                }
            }
            """)
        let client = try harness!.client(timeoutSeconds: 10)
        let size = 64 << 20
        try client.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(size)\r\n\r\n")
        // The proxy stops reading once the upstream stops taking bytes, so this send may stall; ignore that.
        try? client.sendRepeated(byte: 0, count: size)
        let r = try client.readResponse()
        XCTAssertEqual(r.status, 504)
    }
}

/// A loopback TCP listener that never reads. With `fillAcceptQueue` it also never accepts and its queue is
/// filled up front, so further connects hang in SYN-SENT (the kernel drops their SYNs). Its mutable state is
/// guarded by `stopped`, hence the unchecked Sendable.
final class StalledListener: @unchecked Sendable {
    let fd: Int32
    let port: Int
    private var held: [Int32] = []
    private var acceptor: Thread?
    private let stopped = NSLock()
    private var isStopped = false

    init(fillAcceptQueue: Bool) throws {
        let (fd, port) = try bindLoopbackSocket(listenBacklog: 0)
        self.fd = fd
        self.port = port
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        if fillAcceptQueue {
            // Backlog 0 admits one or two completed connections; a few more fill the SYN side too.
            for _ in 0..<4 {
                let c = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                var remote = address
                _ = withUnsafePointer(to: &remote) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(c, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                held.append(c)
            }
            usleep(100_000)
        }
        if !fillAcceptQueue { startAccepting() }
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
