#if canImport(Glibc)
import MaitreBalancing
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreProxy
import NIOCore
import NIOPosix
import XCTest

/// Hostile bytes through the real stream proxy (bounded, fixed seeds): random payloads in random pieces arrive
/// whole and in order both ways, and random or mutated PROXY protocol headers never take the proxy down: each
/// connection is served or closed, and a normal session works afterwards.
final class StreamFuzzTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var echo: TCPEchoServer?
    var harness: ProxyHarness?

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        harness?.stop()
        echo?.stop()
        try? group.syncShutdownGracefully()
    }

    func testRandomPayloadsInRandomPiecesArriveWhole() throws {
        let echo = try TCPEchoServer(name: "E", group: group)
        self.echo = echo
        let harness = try ProxyHarness("""
            stream { server { listen 127.0.0.1:PROXY_PORT; proxy_pass \(echo.address); proxy_buffer_size 1k; } }
            """)
        self.harness = harness
        for index in 0..<150 {
            var random = SplitMix64(seed: 0x57_2EA4, index: index)
            let length = random.pick([0, 1, 7, 100, 1500, 9000, 70000])
            let payload = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
            XCTAssertEqual(client.receive(count: 2), Array("E\n".utf8), "case \(index)")
            var offset = 0
            while offset < payload.count {
                let piece = min(payload.count - offset, random.inRange(1...4096))
                try client.send(Array(payload[offset..<(offset + piece)]))
                offset += piece
            }
            let back = client.receive(count: payload.count)
            XCTAssertEqual(back.count, payload.count, "case \(index)")
            XCTAssertTrue(back == payload, "case \(index): the bytes came back changed")
        }
    }

    func testHostileProxyProtocolHeadersNeverTakeTheProxyDown() throws {
        let echo = try TCPEchoServer(name: "E", group: group)
        self.echo = echo
        let harness = try ProxyHarness("""
            stream {
                server {
                    listen 127.0.0.1:PROXY_PORT proxy_protocol;
                    set_real_ip_from 127.0.0.1;
                    proxy_pass \(echo.address);
                    proxy_protocol_timeout 300ms;
                }
            }
            """)
        self.harness = harness
        let seeds: [[UInt8]] = [
            Array("PROXY TCP4 203.0.113.9 192.0.2.1 51234 443\r\n".utf8),
            Array("PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n".utf8),
            Array("PROXY UNKNOWN\r\n".utf8),
            [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C,
             1, 2, 3, 4, 5, 6, 7, 8, 0, 80, 1, 187],
        ]
        var served = 0
        for index in 0..<300 {
            var random = SplitMix64(seed: 0x9A0C, index: index)
            var header = random.pick(seeds)
            for _ in 0..<random.below(4) where !header.isEmpty {
                header[random.below(header.count)] = UInt8(truncatingIfNeeded: random.next())
            }
            if random.percent(20) { header = (0..<random.below(120)).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
            if random.percent(20) { header = Array(header.prefix(random.below(header.count + 1))) }
            let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 3)
            try? client.send(header + Array("ping".utf8))
            // Served (the greeting and the echo), or closed: never hung past the proxy_protocol_timeout.
            let reply = client.receive(count: 6)
            if reply == Array("E\nping".utf8) { served += 1 }
        }
        XCTAssertGreaterThan(served, 30, "valid headers among the mutations are served")
        let client = try TestHTTPClient(port: harness.port, timeoutSeconds: 5)
        try client.send("PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\nok")
        XCTAssertEqual(client.receive(count: 4), Array("E\nok".utf8), "the proxy still serves")
    }
}
