import NIOCore
import NIOPosix
import XCTest

/// 1 GiB each way through the proxy with bounded memory: bodies stream, nothing is buffered whole.
final class LargeBodyTests: XCTestCase {
    func testGigabyteUploadAndDownloadWithBoundedMemory() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let backend = try TestBackend(name: "big", group: group)
        let harness = try ProxyHarness("""
            http {
                upstream pool { server \(backend.address); }
                server { listen 127.0.0.1:PROXY_PORT; client_max_body_size 0; location / { proxy_pass http://pool; } }
            }
            """)
        defer {
            harness.stop()
            backend.stop()
            try? group.syncShutdownGracefully()
        }
        let gigabyte = 1 << 30
        let client = try harness.client(timeoutSeconds: 120)
        // Warm up so that the baseline includes the allocator's steady state.
        try client.send("GET /bytes/\(8 << 20) HTTP/1.1\r\nHost: a\r\n\r\n")
        _ = try client.readResponse(keepBody: false)
        let before = residentMemoryBytes()

        try client.send("GET /bytes/\(gigabyte) HTTP/1.1\r\nHost: a\r\n\r\n")
        let download = try client.readResponse(keepBody: false)
        XCTAssertEqual(download.status, 200)
        XCTAssertEqual(download.bodyLength, gigabyte)

        try client.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: \(gigabyte)\r\n\r\n")
        try client.sendRepeated(byte: 1, count: gigabyte, piece: 1 << 20)
        let upload = try client.readResponse()
        XCTAssertEqual(upload.status, 200)
        XCTAssertTrue(upload.text.hasPrefix("big \(gigabyte) "), upload.text)

        let growth = residentMemoryBytes() - before
        // Proxy, backend and client all live in this process; a buffered body would add a gigabyte.
        XCTAssertLessThan(growth, 64 << 20, "resident memory grew by \(growth >> 20) MiB")
    }
}
