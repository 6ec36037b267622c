import Foundation
import NIOCore
import NIOPosix
import XCTest

/// `worker_connections` as nginx enforces it per worker (here per event loop): client and upstream connections
/// count; at the limit idle connections are closed to make room, and with none idle a new connection is refused.
final class ConnectionLimitTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var backend: TestBackend?
    var harness: ProxyHarness?

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        harness?.stop()
        backend?.stop()
        try? group.syncShutdownGracefully()
    }

    private func start(limit: Int) throws {
        let backend = try TestBackend(name: "b", group: group)
        self.backend = backend
        harness = try ProxyHarness("""
            events { worker_connections \(limit); }
            http {
                upstream app { server \(backend.address); keepalive 0; }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location = /local { return 200 "local"; }
                    location / { proxy_pass http://app; }
                }
            }
            """)
    }

    /// Four idle connections fill a limit of 4: a fifth is still served, because an idle one is closed for it.
    func testIdleConnectionsMakeRoom() throws {
        try start(limit: 4)
        var idle: [TestHTTPClient] = []
        for _ in 0..<4 { idle.append(try harness!.client(timeoutSeconds: 2)) }
        XCTAssertTrue(eventually { self.harness!.server.openConnectionCount == 4 })
        do {
            let fifth = try harness!.client()
            XCTAssertEqual(try fifth.request("GET", "/local", headers: [("Connection", "close")]).text, "local")
            XCTAssertTrue(fifth.isClosedByPeer())
        }
        // 4 idle + the fifth, which closed: 3 left means exactly one idle connection was reused (nginx drains
        // max(1, n/8) of them).
        XCTAssertTrue(eventually { self.harness!.server.openConnectionCount == 3 },
                      "open: \(harness!.server.openConnectionCount)")
        usleep(100_000)
        XCTAssertEqual(harness!.server.openConnectionCount, 3)
        XCTAssertEqual(idle.count, 4)
    }

    /// Three requests in flight hold six slots (client and upstream each): a new connection is refused without
    /// an answer; once they finish, new connections are served again.
    func testBusyConnectionsRefuseThenRecover() throws {
        try start(limit: 6)
        var busy: [TestHTTPClient] = []
        for _ in 0..<3 {
            let client = try harness!.client()
            try client.send("GET /slow/800 HTTP/1.1\r\nHost: a\r\n\r\n")
            busy.append(client)
        }
        XCTAssertTrue(eventually { self.backend!.openConnections == 3 }, "the three requests reached the backend")
        let refused = try harness!.client(timeoutSeconds: 2)
        XCTAssertTrue(refused.isClosedByPeer(), "a connection beyond worker_connections is closed at once")
        for client in busy {
            XCTAssertEqual(try client.readResponse().status, 200)
        }
        // The three finished clients are idle keep-alive connections now: a new one takes an idle one's place.
        XCTAssertEqual(try harness!.client().request("GET", "/").status, 200)
    }
}
