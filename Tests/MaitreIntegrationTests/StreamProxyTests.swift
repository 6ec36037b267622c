#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import MaitreConfig
import NIOCore
import NIOPosix
import XCTest

/// `stream { }` over real loopback sockets: TCP sessions through the balancer, connect failures and the next
/// server, half-close, `proxy_timeout`, a server dying mid-session, access-log lines, and reload.
final class StreamProxyTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var servers: [TCPEchoServer] = []
    var harness: ProxyHarness?

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        harness?.stop()
        for server in servers { server.stop() }
        try? group.syncShutdownGracefully()
    }

    static let logFormat = """
        log_format basic '$protocol $status $bytes_received $bytes_sent "$upstream_addr" '
                         '"$upstream_bytes_sent" "$upstream_bytes_received" "$upstream_connect_time" '
                         '"$upstream_first_byte_time" "$upstream_session_time" $session_time';
        """

    private func start(_ server: String, upstream: String, extra: String = "") throws -> ProxyHarness {
        let harness = try ProxyHarness("""
            stream {
                \(Self.logFormat)
                access_log TMP/stream.log basic;
                upstream backend { \(upstream) }
                \(extra)
                server { listen 127.0.0.1:PROXY_PORT; proxy_pass backend; \(server) }
            }
            """, logFileLevel: .info)
        self.harness = harness
        return harness
    }

    private func logLines(_ harness: ProxyHarness, count: Int) -> [String] {
        var lines: [String] = []
        _ = eventually(5) {
            lines = (readFile(harness.directory + "/stream.log") ?? "").split(separator: "\n").map(String.init)
            return lines.count >= count
        }
        return lines
    }

    /// One session: reads the greeting line, sends `text`, reads its echo, closes.
    private func session(_ port: Int, _ text: String) throws -> String {
        let client = try TestHTTPClient(port: port, timeoutSeconds: 5)
        try client.send(text)
        let reply = client.receive(count: 2 + text.utf8.count)
        return String(decoding: reply, as: UTF8.self)
    }

    func testSessionsAreBalancedAndEchoedAndLogged() throws {
        let a = try TCPEchoServer(name: "A", group: group)
        let b = try TCPEchoServer(name: "B", group: group)
        servers = [a, b]
        let harness = try start("", upstream: "server \(a.address); server \(b.address);")
        var replies: [String] = []
        for index in 0..<4 { replies.append(try session(harness.port, "ping\(index)\n")) }
        XCTAssertEqual(replies, ["A\nping0\n", "B\nping1\n", "A\nping2\n", "B\nping3\n"])
        let lines = logLines(harness, count: 4)
        XCTAssertEqual(lines.count, 4, "\(lines)")
        for (index, line) in lines.enumerated() {
            let server = index % 2 == 0 ? a : b
            XCTAssertTrue(line.hasPrefix("TCP 200 6 8 \"\(server.address)\" \"6\" \"8\" \"0.0"), line)
        }
        XCTAssertEqual(a.connections + b.connections, 4)
    }

    func testRefusedServerIsSkippedForTheNextAndMarkedFailed() throws {
        let live = try TCPEchoServer(name: "L", group: group)
        servers = [live]
        let dead = try freeLoopbackPort()
        let harness = try start("", upstream: "server 127.0.0.1:\(dead) max_fails=1 fail_timeout=30s; server \(live.address);")
        for index in 0..<4 {
            XCTAssertEqual(try session(harness.port, "x\(index)\n"), "L\nx\(index)\n")
        }
        let lines = logLines(harness, count: 4)
        XCTAssertEqual(lines.first?.contains("\"127.0.0.1:\(dead), \(live.address)\""), true, "\(lines)")
        XCTAssertEqual(lines.first?.contains("\"-, 0.0"), true, "connect time of the refused try is -: \(lines)")
        // max_fails=1: the refused server is out for fail_timeout, so later sessions go straight to the live one.
        XCTAssertEqual(lines.dropFirst().filter { $0.contains("\(dead)") }, [])
        XCTAssertTrue(fileEventuallyContains(
            harness.errorLogPath,
            "connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, "
                + "server: 127.0.0.1:\(harness.port), upstream: \"127.0.0.1:\(dead)\""), readFile(harness.errorLogPath) ?? "")
    }

    func testNoServerLeftEndsTheSessionWith502() throws {
        let dead = try freeLoopbackPort()
        let alsoDead = try freeLoopbackPort()
        let harness = try start("", upstream: "server 127.0.0.1:\(dead); server 127.0.0.1:\(alsoDead);")
        let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        let (bytes, end) = client.readUntilClose()
        XCTAssertEqual(bytes, [])
        XCTAssertNotEqual(end, .timeout)
        let lines = logLines(harness, count: 1)
        XCTAssertEqual(
            lines.first?.hasPrefix("TCP 502 0 0 \"127.0.0.1:\(dead), 127.0.0.1:\(alsoDead)\""), true, "\(lines)")
        // Both servers are out now (max_fails=1): the next session finds no live upstream, and its
        // $upstream_addr is the upstream's name, as nginx writes it.
        _ = try TestHTTPClient(port: harness.port, timeoutSeconds: 5).readUntilClose()
        let more = logLines(harness, count: 2)
        XCTAssertEqual(more.last?.hasPrefix("TCP 502 0 0 \"backend\""), true, "\(more)")
        XCTAssertTrue(fileEventuallyContains(harness.errorLogPath, "no live upstreams while connecting to upstream"))
    }

    func testWithoutHalfCloseTheClientsEndEndsTheSession() throws {
        let a = try TCPEchoServer(name: "A", group: group)
        servers = [a]
        let harness = try start("", upstream: "server \(a.address);")
        let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        XCTAssertEqual(client.receive(count: 2), Array("A\n".utf8))
        try client.send("last\n")
        client.shutdownWrite()
        // nginx's default (proxy_half_close off): once the client's bytes reached the server, both sides close,
        // so the server's "bye" never comes back.
        let (rest, end) = client.readUntilClose()
        XCTAssertFalse(String(decoding: rest, as: UTF8.self).contains("bye"), String(decoding: rest, as: UTF8.self))
        XCTAssertNotEqual(end, .timeout)
        XCTAssertTrue(eventually(5) { a.bytes == 5 })
    }

    func testHalfCloseCarriesTheEndToTheServerAndTheAnswerBack() throws {
        let a = try TCPEchoServer(name: "A", group: group)
        servers = [a]
        let harness = try start("proxy_half_close on;", upstream: "server \(a.address);")
        let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        try client.send("last\n")
        client.shutdownWrite()
        let (bytes, end) = client.readUntilClose()
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "A\nlast\nbye A\n")
        XCTAssertEqual(end, .eof)
        let lines = logLines(harness, count: 1)
        XCTAssertEqual(lines.first?.hasPrefix("TCP 200 5 13 "), true, "\(lines)")
    }

    func testProxyTimeoutEndsOnlyIdleSessions() throws {
        let a = try TCPEchoServer(name: "A", group: group)
        servers = [a]
        let harness = try start("proxy_timeout 300ms;", upstream: "server \(a.address);")
        let idle = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        let busy = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        XCTAssertEqual(idle.receive(count: 2), Array("A\n".utf8))
        XCTAssertEqual(busy.receive(count: 2), Array("A\n".utf8))
        let started = Date()
        // The busy session sends every 100 ms for a second: never 300 ms without traffic.
        for index in 0..<10 {
            try busy.send("\(index)")
            XCTAssertEqual(busy.receive(count: 1), Array("\(index)".utf8))
            usleep(100_000)
        }
        let (bytes, end) = idle.readUntilClose()
        XCTAssertEqual(bytes, [])
        XCTAssertEqual(end, .eof)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        try busy.send("z")
        XCTAssertEqual(busy.receive(count: 1), Array("z".utf8), "the busy session outlived the idle one")
        XCTAssertTrue(fileEventuallyContains(
            harness.errorLogPath, "connection timed out (110: Connection timed out) while proxying connection"))
    }

    func testLargeTransferWithASlowReaderArrivesWhole() throws {
        let a = try TCPEchoServer(name: "A", group: group)
        servers = [a]
        let harness = try start("proxy_buffer_size 4k;", upstream: "server \(a.address);")
        let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 10)
        XCTAssertEqual(client.receive(count: 2), Array("A\n".utf8))
        let total = 8 * 1024 * 1024
        // The send side of the socket is used by this thread only, the receive side by the test.
        let shared = SharedClient(client)
        let sender = Thread {
            try? shared.client.sendRepeated(byte: UInt8(ascii: "q"), count: total, piece: 64 * 1024)
        }
        sender.start()
        var received = 0
        var allQ = true
        while received < total {
            let chunk = client.receive(count: min(256 * 1024, total - received))
            if chunk.isEmpty { break }
            allQ = allQ && chunk.allSatisfy { $0 == UInt8(ascii: "q") }
            received += chunk.count
            if received < total / 4 { usleep(2_000) }  // a slow reader first: the proxy must hold its reads
        }
        XCTAssertEqual(received, total)
        XCTAssertTrue(allQ)
    }

    func testAServerDyingMidSessionEndsOnlyThatSession() throws {
        let a = try TCPEchoServer(name: "A", group: group)
        servers = [a]
        let (fd, port) = try bindLoopbackSocket(listenBacklog: 8)
        defer { close(fd) }
        let harness = try start("", upstream: "server 127.0.0.1:\(port); server \(a.address);")
        let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        try client.send("hello")
        let accepted = accept(fd, nil, nil)
        XCTAssertGreaterThanOrEqual(accepted, 0)
        var buffer = [UInt8](repeating: 0, count: 16)
        XCTAssertEqual(recv(accepted, &buffer, 16, 0), 5)
        // The server dies with a reset.
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(accepted, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(accepted)
        let (_, end) = client.readUntilClose()
        XCTAssertNotEqual(end, .timeout)
        // The proxy goes on: the next session reaches the other server.
        XCTAssertEqual(try session(harness.port, "again\n"), "A\nagain\n")
    }

    func testReloadKeepsRunningSessionsAndSendsNewOnesToTheNewServer() throws {
        let a = try TCPEchoServer(name: "A", group: group)
        let b = try TCPEchoServer(name: "B", group: group)
        servers = [a, b]
        let harness = try start("", upstream: "server \(a.address);")
        let old = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        XCTAssertEqual(old.receive(count: 2), Array("A\n".utf8))
        try harness.reload("""
            stream {
                \(Self.logFormat)
                access_log TMP/stream.log basic;
                upstream backend { server \(b.address); }
                server { listen 127.0.0.1:PROXY_PORT; proxy_pass backend; }
            }
            """)
        try old.send("still\n")
        XCTAssertEqual(String(decoding: old.receive(count: 6), as: UTF8.self), "still\n")
        XCTAssertEqual(try session(harness.port, "new\n"), "B\nnew\n")
    }

    func testActiveTCPCheckKeepsADeadServerOut() throws {
        let live = try TCPEchoServer(name: "L", group: group)
        servers = [live]
        let dead = try freeLoopbackPort()
        let harness = try start(
            "", upstream: "server 127.0.0.1:\(dead); server \(live.address); "
                + "check interval=100 rise=1 fall=1 timeout=500 type=tcp default_down=false;")
        // Once the probes found the dead server, sessions never try it.
        XCTAssertTrue(eventually(5) {
            (readFile(harness.errorLogPath) ?? "").contains("disable check peer")
        })
        for index in 0..<4 {
            XCTAssertEqual(try session(harness.port, "c\(index)\n"), "L\nc\(index)\n")
        }
        let lines = logLines(harness, count: 4)
        XCTAssertEqual(lines.filter { $0.contains("\(dead)") }, [], "\(lines)")
    }

    func testAllowAndDenyRefuseWith403() throws {
        let a = try TCPEchoServer(name: "A", group: group)
        servers = [a]
        let harness = try start("deny 127.0.0.1; allow all;", upstream: "server \(a.address);")
        let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        let (bytes, end) = client.readUntilClose()
        XCTAssertEqual(bytes, [])
        XCTAssertNotEqual(end, .timeout)
        XCTAssertEqual(logLines(harness, count: 1).first?.hasPrefix("TCP 403 0 0 \"-\" "), true)
        XCTAssertEqual(a.connections, 0)
    }
}

extension StreamProxyTests {
    /// Stream's `least_time first_byte` (nginx 1.31): a server whose first byte takes 150 ms is left once known.
    func testLeastTimeFirstByteAvoidsTheSlowServer() throws {
        let slow = try TCPEchoServer(name: "S", group: group, greetingDelay: .milliseconds(150))
        let fast = try TCPEchoServer(name: "F", group: group)
        servers = [slow, fast]
        let harness = try start("", upstream: "least_time first_byte; server \(slow.address); server \(fast.address);")
        for index in 0..<12 {
            let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
            XCTAssertEqual(client.receive(count: 2).count, 2, "session \(index)")
        }
        XCTAssertEqual(slow.connections + fast.connections, 12)
        XCTAssertLessThanOrEqual(slow.connections, 2, "only while both were unknown")
    }
}

extension StreamProxyTests {
    /// Stream upstreams on nginx Plus's API (`/api/9/stream/upstreams`) and the status page's JSON; a PATCH
    /// drains a stream server: new sessions go elsewhere at once.
    func testStreamUpstreamsOnTheAPIAndDrain() throws {
        let a = try TCPEchoServer(name: "A", group: group)
        let b = try TCPEchoServer(name: "B", group: group)
        servers = [a, b]
        let apiPort = try freeLoopbackPort()
        let harness = try ProxyHarness("""
            stream {
                upstream backend { server \(a.address); server \(b.address); }
                server { listen 127.0.0.1:PROXY_PORT; proxy_pass backend; }
            }
            http {
                upstream backend { server 127.0.0.1:1; }
                server {
                    listen 127.0.0.1:\(apiPort);
                    location /api { api write=on; }
                    location = /status { status; }
                    location = /metrics { metrics; }
                }
            }
            """)
        self.harness = harness
        _ = try session(harness.port, "one\n")
        let api = try TestHTTPClient(port: apiPort, timeoutSeconds: 5)
        let upstream = try api.request("GET", "/api/9/stream/upstreams/backend")
        XCTAssertEqual(upstream.status, 200)
        let json = try JSONSerialization.jsonObject(with: Data(upstream.text.utf8)) as? [String: Any]
        let peers = json?["peers"] as? [[String: Any]] ?? []
        XCTAssertEqual(peers.compactMap { $0["server"] as? String }, [a.address, b.address])
        XCTAssertEqual(peers.compactMap { $0["requests"] as? Int }.reduce(0, +), 1, "sessions count as requests")
        // The http upstream of the same name is another one.
        let http = try api.request("GET", "/api/9/http/upstreams/backend/servers")
        XCTAssertTrue(http.text.contains("127.0.0.1:1"), http.text)
        XCTAssertFalse(http.text.contains(a.address), http.text)
        let drained = try api.request(
            "PATCH", "/api/9/stream/upstreams/backend/servers/0", body: "{\"drain\":true}")
        XCTAssertEqual(drained.status, 200, drained.text)
        for index in 0..<4 { XCTAssertEqual(try session(harness.port, "d\(index)\n"), "B\nd\(index)\n") }
        let status = try api.request("GET", "/status?format=json")
        let document = try JSONSerialization.jsonObject(with: Data(status.text.utf8)) as? [String: Any]
        let streamPart = (document?["stream"] as? [String: Any])?["upstreams"] as? [String: Any]
        XCTAssertNotNil(streamPart?["backend"], status.text)
        XCTAssertEqual(try api.request("GET", "/api/9/stream/upstreams/nothing").status, 404)
        let metrics = try api.request("GET", "/metrics").text
        XCTAssertTrue(metrics.contains("upstream=\"backend\",server=\"\(a.address)\",peer=\"\(a.address)\",context=\"stream\""),
                      metrics)
    }
}

extension StreamProxyTests {
    /// `return VALUE` (ngx_stream_return_module), over TCP and UDP: the text with its variables, then the end.
    func testReturnAnswersWithTextAndCloses() throws {
        let udpPort = try freeLoopbackPort()
        let harness = try ProxyHarness("""
            stream {
                \(Self.logFormat)
                access_log TMP/stream.log basic;
                server { listen 127.0.0.1:PROXY_PORT; return "hello $remote_addr $protocol\\n"; }
                server { listen 127.0.0.1:\(udpPort) udp; return "pong $protocol"; }
            }
            """, logFileLevel: .info)
        self.harness = harness
        let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        let (bytes, end) = client.readUntilClose()
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "hello 127.0.0.1 TCP\n")
        XCTAssertEqual(end, .eof)
        let udp = try TestUDPClient()
        udp.send("ping", to: udpPort)
        XCTAssertEqual(udp.receive(), "pong UDP")
        let lines = logLines(harness, count: 2)
        XCTAssertTrue(lines.contains { $0.hasPrefix("TCP 200 0 20 \"-\"") }, "\(lines)")
        XCTAssertTrue(lines.contains { $0.hasPrefix("UDP 200 4 8 \"-\"") }, "\(lines)")
    }
}

/// A client handed to a sender thread while the test reads: send and receive touch separate state of the socket.
private final class SharedClient: @unchecked Sendable {
    let client: TestHTTPClient
    init(_ client: TestHTTPClient) { self.client = client }
}
