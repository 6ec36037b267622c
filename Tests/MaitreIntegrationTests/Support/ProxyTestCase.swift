import Foundation
import MaitreConfig
import NIOCore
import NIOPosix
import XCTest

/// What the proxy behaviour tests share: one event loop for the test backends, the backends, and the proxy.
class ProxyTestCase: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var backends: [TestBackend] = []
    var harness: ProxyHarness?

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        harness?.stop()
        for b in backends { b.stop() }
        backends = []
        try? group.syncShutdownGracefully()
    }

    func singleBackend(
        _ extra: String = "", location: String = "", upstreamExtra: String = "", serverParameters: String = ""
    ) throws -> TestBackend {
        let backend = try TestBackend(name: "only", group: group)
        backends = [backend]
        harness = try ProxyHarness("""
            http {
                upstream pool { server \(backend.address) \(serverParameters); \(upstreamExtra) }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    server_name example.com;
                    \(extra)
                    location / { proxy_pass http://pool; \(location) }
                }
            }
            """)
        return backend
    }

    func headerLines(_ response: TestHTTPClient.Response) -> [String: String] {
        var out: [String: String] = [:]
        for line in response.text.split(separator: "\n").dropFirst() {
            if let colon = line.firstIndex(of: ":") {
                out[String(line[..<colon])] = String(line[line.index(colon, offsetBy: 2)...])
            }
        }
        return out
    }
}
