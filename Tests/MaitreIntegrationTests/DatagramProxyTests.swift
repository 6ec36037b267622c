#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreConfig
import NIOCore
import NIOPosix
import XCTest

/// `listen … udp` over real loopback sockets: sessions per client, `proxy_responses`, the next server after an
/// ICMP refusal, `proxy_timeout`, and the cap `worker_connections` puts on tracked clients.
final class DatagramProxyTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var servers: [UDPEchoServer] = []
    var harness: ProxyHarness?

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        harness?.stop()
        for server in servers { server.stop() }
        try? group.syncShutdownGracefully()
    }

    private func start(_ server: String, upstream: String, main: String = "") throws -> ProxyHarness {
        let harness = try ProxyHarness("""
            \(main)
            stream {
                log_format basic '$protocol $status $bytes_received $bytes_sent "$upstream_addr"';
                access_log TMP/udp.log basic;
                upstream dns { \(upstream) }
                server { listen 127.0.0.1:PROXY_PORT udp; proxy_pass dns; \(server) }
            }
            """, logFileLevel: .info)
        self.harness = harness
        return harness
    }

    private func logLines(_ harness: ProxyHarness, count: Int) -> [String] {
        var lines: [String] = []
        _ = eventually(5) {
            lines = (readFile(harness.directory + "/udp.log") ?? "").split(separator: "\n").map(String.init)
            return lines.count >= count
        }
        return lines
    }

    func testEachClientGetsItsAnswerAndSessionsAreBalanced() throws {
        let a = try UDPEchoServer(name: "A", group: group)
        let b = try UDPEchoServer(name: "B", group: group)
        servers = [a, b]
        let harness = try start("proxy_responses 1;", upstream: "server \(a.address); server \(b.address);")
        var answers: [String?] = []
        for index in 0..<4 {
            let client = try TestUDPClient()
            client.send("q\(index)", to: harness.port)
            answers.append(client.receive())
        }
        XCTAssertEqual(answers, ["A:q0", "B:q1", "A:q2", "B:q3"])
        let lines = logLines(harness, count: 4)
        XCTAssertEqual(lines.count, 4)
        XCTAssertEqual(lines.first, "UDP 200 2 4 \"\(a.address)\"")
    }

    func testOneClientsDatagramsShareItsSessionUntilTheAnswersCame() throws {
        let a = try UDPEchoServer(name: "A", group: group)
        let b = try UDPEchoServer(name: "B", group: group)
        servers = [a, b]
        // No proxy_responses: the session lasts until proxy_timeout, so every datagram of the client goes to A.
        let harness = try start("proxy_timeout 500ms;", upstream: "server \(a.address); server \(b.address);")
        let client = try TestUDPClient()
        for index in 0..<3 {
            client.send("m\(index)", to: harness.port)
            XCTAssertEqual(client.receive(), "A:m\(index)")
        }
        let lines = logLines(harness, count: 1)
        XCTAssertEqual(lines.first, "UDP 200 6 12 \"\(a.address)\"", "ended by proxy_timeout with status 200")
        XCTAssertEqual(b.datagrams, 0)
    }

    func testARefusingServerSendsTheDatagramToTheNext() throws {
        let live = try UDPEchoServer(name: "L", group: group)
        servers = [live]
        let dead = try freeLoopbackPort()
        let harness = try start("proxy_responses 1;", upstream: "server 127.0.0.1:\(dead); server \(live.address);")
        let client = try TestUDPClient()
        client.send("who", to: harness.port)
        XCTAssertEqual(client.receive(), "L:who")
        let lines = logLines(harness, count: 1)
        XCTAssertEqual(lines.first, "UDP 200 3 5 \"127.0.0.1:\(dead), \(live.address)\"")
        XCTAssertTrue(fileEventuallyContains(
            harness.errorLogPath, "(111: Connection refused) while proxying connection, udp client: 127.0.0.1"))
    }

    func testMissingAnswersEndTheSessionWith502AtTheTimeout() throws {
        let a = try UDPEchoServer(name: "A", group: group, replies: 1)
        servers = [a]
        let harness = try start("proxy_responses 2; proxy_timeout 300ms;", upstream: "server \(a.address);")
        let client = try TestUDPClient()
        client.send("x", to: harness.port)
        XCTAssertEqual(client.receive(), "A:x")
        let lines = logLines(harness, count: 1)
        XCTAssertEqual(lines.first, "UDP 502 1 3 \"\(a.address)\"")
        XCTAssertTrue(fileEventuallyContains(
            harness.errorLogPath, "upstream timed out (110: Connection timed out) while proxying connection"))
    }

    func testWorkerConnectionsCapsTrackedClients() throws {
        let a = try UDPEchoServer(name: "A", group: group)
        servers = [a]
        // Each session holds two of the 10 connections (its own and its socket to the server): five fit.
        let harness = try start(
            "proxy_timeout 10s;", upstream: "server \(a.address);", main: "events { worker_connections 10; }")
        var clients: [TestUDPClient] = []
        var answered = 0
        for index in 0..<12 {
            let client = try TestUDPClient(timeoutMilliseconds: 300)
            client.send("c\(index)", to: harness.port)
            if client.receive() != nil { answered += 1 }
            clients.append(client)
        }
        XCTAssertEqual(answered, 5)
        XCTAssertEqual(a.datagrams, 5)
        XCTAssertTrue(fileEventuallyContains(harness.errorLogPath, "10 worker_connections are not enough"))
    }

    func testProxyRequestsUnbindsAfterNDatagrams() throws {
        let a = try UDPEchoServer(name: "A", group: group)
        let b = try UDPEchoServer(name: "B", group: group)
        servers = [a, b]
        let harness = try start(
            "proxy_requests 2; proxy_responses 1;", upstream: "server \(a.address); server \(b.address);")
        let client = try TestUDPClient()
        var answers: [String?] = []
        for index in 0..<4 {
            client.send("r\(index)", to: harness.port)
            answers.append(client.receive())
        }
        // Two datagrams per session, then the next one starts a new session on the next server.
        XCTAssertEqual(answers, ["A:r0", "A:r1", "B:r2", "B:r3"])
    }

    /// `proxy_protocol on` over UDP: the header opens the session's first datagram (the echo server returns it).
    func testProxyProtocolOpensTheFirstDatagram() throws {
        let a = try UDPEchoServer(name: "A", group: group)
        servers = [a]
        let harness = try start("proxy_protocol on; proxy_responses 1;", upstream: "server \(a.address);")
        let client = try TestUDPClient()
        client.send("q", to: harness.port)
        let answer = try XCTUnwrap(client.receive())
        XCTAssertTrue(answer.hasPrefix("A:PROXY TCP4 127.0.0.1 127.0.0.1 "), answer)
        XCTAssertTrue(answer.hasSuffix(" \(harness.port)\r\nq"), answer)
    }
}
