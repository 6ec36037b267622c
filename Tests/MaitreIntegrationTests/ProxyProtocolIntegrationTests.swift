#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreConfig
import NIOCore
import NIOPosix
import XCTest

/// The PROXY protocol over real sockets: accepted on `listen … proxy_protocol` (stream and http) with
/// `set_real_ip_from`, sent by `proxy_protocol on|v2`, and a chain of two balancers that keeps the client's address.
final class ProxyProtocolIntegrationTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var echo: TCPEchoServer?
    var backend: TestBackend?
    var harness: ProxyHarness?

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        harness?.stop()
        echo?.stop()
        backend?.stop()
        try? group.syncShutdownGracefully()
    }

    private func logLines(_ path: String, count: Int) -> [String] {
        var lines: [String] = []
        _ = eventually(5) {
            lines = (readFile(path) ?? "").split(separator: "\n").map(String.init)
            return lines.count >= count
        }
        return lines
    }

    func testStreamReadsTheHeaderAndTrustsItFromSetRealIPFrom() throws {
        let echo = try TCPEchoServer(name: "A", group: group)
        self.echo = echo
        let harness = try ProxyHarness("""
            stream {
                log_format pp '$remote_addr:$remote_port $proxy_protocol_addr:$proxy_protocol_port '
                              '$proxy_protocol_server_addr:$proxy_protocol_server_port $status';
                access_log TMP/pp.log pp;
                server {
                    listen 127.0.0.1:PROXY_PORT proxy_protocol;
                    set_real_ip_from 127.0.0.0/8;
                    proxy_pass \(echo.address);
                }
            }
            """, logFileLevel: .info)
        self.harness = harness
        let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        try client.send("PROXY TCP4 203.0.113.9 192.0.2.1 51234 443\r\nhello")
        XCTAssertEqual(String(decoding: client.receive(count: 7), as: UTF8.self), "A\nhello",
                       "the header is not passed on; what follows it is")
        client.shutdownWrite()
        _ = client.readUntilClose()
        XCTAssertEqual(logLines(harness.directory + "/pp.log", count: 1),
                       ["203.0.113.9:51234 203.0.113.9:51234 192.0.2.1:443 200"])
        XCTAssertEqual(echo.bytes, 5)
    }

    func testABrokenHeaderEndsTheSessionWith400() throws {
        let echo = try TCPEchoServer(name: "A", group: group)
        self.echo = echo
        let harness = try ProxyHarness("""
            stream {
                log_format pp '$remote_addr $status';
                access_log TMP/pp.log pp;
                server { listen 127.0.0.1:PROXY_PORT proxy_protocol; proxy_pass \(echo.address); }
            }
            """, logFileLevel: .info)
        self.harness = harness
        let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        try client.send("GET / HTTP/1.1\r\n\r\n")
        let (bytes, end) = client.readUntilClose()
        XCTAssertEqual(bytes, [])
        XCTAssertNotEqual(end, .timeout)
        XCTAssertEqual(logLines(harness.directory + "/pp.log", count: 1), ["127.0.0.1 400"])
        XCTAssertTrue(fileEventuallyContains(harness.errorLogPath, "broken header: \"GET / HTTP/1.1\""))
        XCTAssertEqual(echo.connections, 0)
    }

    /// `proxy_protocol on` sends nginx's text line before the client's first byte; `v2` the binary header.
    func testStreamSendsVersionOneAndTwo() throws {
        for version in ["on", "v2"] {
            let (fd, port) = try bindLoopbackSocket(listenBacklog: 4)
            defer { close(fd) }
            let harness = try ProxyHarness("""
                stream { server { listen 127.0.0.1:PROXY_PORT; proxy_pass 127.0.0.1:\(port); proxy_protocol \(version); } }
                """)
            defer { harness.stop() }
            let client = try TestHTTPClient(port: harness.port, source: "127.0.0.5", timeoutSeconds: 5)
            try client.send("hello")
            let server = accept(fd, nil, nil)
            XCTAssertGreaterThanOrEqual(server, 0)
            defer { close(server) }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 4096)
            while !received.ends(with: Array("hello".utf8)) {
                let n = recv(server, &chunk, chunk.count, 0)
                guard n > 0 else { break }
                received += chunk[0..<n]
            }
            XCTAssertTrue(received.ends(with: Array("hello".utf8)), "\(version): \(received)")
            let header = Array(received.dropLast(5))
            if version == "on" {
                let text = String(decoding: header, as: UTF8.self)
                XCTAssertTrue(text.hasPrefix("PROXY TCP4 127.0.0.5 127.0.0.1 "), text)
                XCTAssertTrue(text.hasSuffix(" \(harness.port)\r\n"), text)
            } else {
                XCTAssertEqual(header.count, 16 + 12 + 7, "addresses and the CRC32c TLV")
                XCTAssertEqual(Array(header[12..<14]), [0x21, 0x11])
                XCTAssertEqual(Array(header[16..<24]), [127, 0, 0, 5, 127, 0, 0, 1])
                XCTAssertEqual(Int(header[26]) << 8 | Int(header[27]), harness.port)
            }
        }
    }

    /// A client at 127.0.0.5 → stream balancer (`proxy_protocol v2`) → http balancer (`listen … proxy_protocol`,
    /// `set_real_ip_from`, `real_ip_header proxy_protocol`) → backend: the http balancer sees the client's address.
    func testTwoBalancersKeepTheClientsAddress() throws {
        let backend = try TestBackend(name: "web", group: group)
        self.backend = backend
        let httpPort = try freeLoopbackPort()
        let harness = try ProxyHarness("""
            stream {
                server { listen 127.0.0.1:PROXY_PORT; proxy_pass 127.0.0.1:\(httpPort); proxy_protocol v2; }
            }
            http {
                log_format pp '$remote_addr $proxy_protocol_addr $status';
                server {
                    listen 127.0.0.1:\(httpPort) proxy_protocol;
                    set_real_ip_from 127.0.0.1;
                    real_ip_header proxy_protocol;
                    access_log TMP/http.log pp;
                    location / {
                        proxy_set_header X-Real-IP $remote_addr;
                        proxy_pass http://\(backend.address);
                    }
                }
            }
            """)
        self.harness = harness
        let client = try TestHTTPClient(port: harness.port, source: "127.0.0.5", timeoutSeconds: 5)
        let response = try client.request("GET", "/who")
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(backend.lastHead?.headers["X-Real-IP"], ["127.0.0.5"])
        XCTAssertEqual(logLines(harness.directory + "/http.log", count: 1), ["127.0.0.5 127.0.0.5 200"])
    }

    func testHTTPClosesAConnectionWithoutAHeader() throws {
        let backend = try TestBackend(name: "web", group: group)
        self.backend = backend
        let harness = try ProxyHarness("""
            http { server { listen 127.0.0.1:PROXY_PORT proxy_protocol; location / { proxy_pass http://\(backend.address); } } }
            """, logFileLevel: .info)
        self.harness = harness
        let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let (bytes, end) = client.readUntilClose()
        XCTAssertEqual(bytes, [], "no response: nginx closes the connection")
        XCTAssertNotEqual(end, .timeout)
        // The error log is written off the event loop: the line may land just after the close.
        XCTAssertTrue(pollUntil(timeout: 5) {
            (readFile(harness.errorLogPath) ?? "").contains("broken header: \"GET / HTTP/1.1\"")
        }, readFile(harness.errorLogPath) ?? "")
        XCTAssertEqual(backend.requests, 0)
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
