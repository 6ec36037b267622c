import MaitreConfig
import NIOCore
import NIOPosix
import XCTest

/// Distribution through real sockets: maitred in front of real backends on loopback.
final class BalancingIntegrationTests: ProxyTestCase {
    private func startBackends(_ names: [String], delay: [String: TimeAmount] = [:]) throws {
        backends = try names.map { try TestBackend(name: $0, group: group, delay: delay[$0] ?? .zero) }
    }

    private func backendName(_ response: TestHTTPClient.Response) -> String {
        response.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Equal weights rotate a b c a b c, as nginx's round robin.
    func testRoundRobinRotatesInOrder() throws {
        try startBackends(["a", "b", "c"])
        harness = try ProxyHarness("""
            events { worker_connections 64; }
            http {
                upstream pool { \(backends.map { "server \($0.address);" }.joined(separator: " ")) }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; } }
            }
            """)
        let client = try harness!.client()
        var seen: [String] = []
        for _ in 0..<6 { seen.append(backendName(try client.request("GET", "/"))) }
        XCTAssertEqual(seen, ["a", "b", "c", "a", "b", "c"])
    }

    /// Weights 5,1,1 give nginx's smooth sequence a a b a c a a.
    func testSmoothWeightedSequenceMatchesNginx() throws {
        try startBackends(["a", "b", "c"])
        harness = try ProxyHarness("""
            http {
                upstream pool {
                    server \(backends[0].address) weight=5;
                    server \(backends[1].address);
                    server \(backends[2].address);
                }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; } }
            }
            """)
        let client = try harness!.client()
        var seen: [String] = []
        for _ in 0..<14 { seen.append(backendName(try client.request("GET", "/"))) }
        XCTAssertEqual(seen, ["a", "a", "b", "a", "c", "a", "a", "a", "a", "b", "a", "c", "a", "a"])
    }

    /// The article's weights 3,2,1 share 60 requests 30/20/10.
    func testWeightedShares() throws {
        try startBackends(["a", "b", "c"])
        harness = try ProxyHarness("""
            http {
                upstream pool {
                    server \(backends[0].address) weight=3;
                    server \(backends[1].address) weight=2;
                    server \(backends[2].address) weight=1;
                }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; } }
            }
            """)
        let client = try harness!.client()
        var counts: [String: Int] = [:]
        for _ in 0..<60 { counts[backendName(try client.request("GET", "/")), default: 0] += 1 }
        XCTAssertEqual(counts, ["a": 30, "b": 20, "c": 10])
    }

    /// least_conn sends new requests away from a server whose request is still in flight. One client connection
    /// holds a slow request (/slow/3000) on whichever server took it; meanwhile another connection sends ten
    /// requests one after another, each answered at once: every one of them sees 1 active request on the busy
    /// server and 0 on the other, so least_conn sends all ten to the other. Round robin would alternate and send
    /// five to the busy one. No threads: the test owns both sockets and the order of every send and read.
    func testLeastConnSteersAwayFromBusyServer() throws {
        try startBackends(["a", "b"])
        harness = try ProxyHarness("""
            http {
                upstream pool { least_conn; server \(backends[0].address); server \(backends[1].address); }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; } }
            }
            """)
        let holder = try harness!.client()
        let started = Date()
        try holder.send("GET /slow/3000 HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertTrue(pollUntil(timeout: 5) { self.backends.map(\.requests).reduce(0, +) == 1 },
                      "the slow request reached a server")
        guard let busyIndex = backends.firstIndex(where: { $0.requests == 1 }) else { return XCTFail("no server has it") }
        let busy = backends[busyIndex].name
        let idle = backends[1 - busyIndex].name

        let other = try harness!.client()
        var answeredBy: [String] = []
        for _ in 0..<10 { answeredBy.append(backendName(try other.request("GET", "/"))) }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertLessThan(elapsed, 2.5, "the slow request may have finished meanwhile: this run shows nothing")
        XCTAssertEqual(answeredBy, Array(repeating: idle, count: 10), "requests went to the busy server \(busy)")

        let slow = try holder.readResponse()
        XCTAssertEqual(slow.status, 200)
        XCTAssertEqual(backendName(slow), busy)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 3.0, "the slow request was held 3 s")
    }

    /// ip_hash keeps each client /24 on one server, and maps them as nginx does: with three equal servers
    /// 127.0.0.x → the third, 127.0.1.x → the first, 127.0.2.x → the second.
    func testIPHashIsStablePerClientAndMatchesNginx() throws {
        try startBackends(["a", "b", "c"])
        harness = try ProxyHarness("""
            http {
                upstream pool { ip_hash; \(backends.map { "server \($0.address);" }.joined(separator: " ")) }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; } }
            }
            """)
        let expected = ["127.0.0.1": "c", "127.0.1.7": "a", "127.0.2.9": "b", "127.0.0.200": "c"]
        for (source, name) in expected {
            for _ in 0..<3 {
                let r = try harness!.get("/", source: source)
                XCTAssertEqual(backendName(r), name, "client \(source)")
            }
        }
        // Many /24s: each sticks to one server, and all three servers get some.
        var servers = Set<String>()
        for third in 10..<40 {
            let source = "127.0.\(third).1"
            let first = backendName(try harness!.get("/", source: source))
            let second = backendName(try harness!.get("/", source: "127.0.\(third).2"))
            XCTAssertEqual(first, second, "same /24 \(source)")
            servers.insert(first)
        }
        XCTAssertEqual(servers.count, 3)
    }
}

extension BalancingIntegrationTests {
    /// `worker_processes 2` in the configuration text gives two event loops (the harness sizes its group from the
    /// parsed worker_processes, as maitred's Runner does), each with its own upstream keep-alive pool, as nginx's
    /// workers each have theirs. That is the observable: client connections are handed to the loops in turn, so
    /// with requests sent strictly one at a time (never two in flight) over four client connections, one loop
    /// needs exactly one upstream connection (every request reuses the pooled one) while two loops need exactly
    /// two (one pooled per loop). The same run with `worker_processes 1` is the control. Then every loop serves
    /// clients at once: eight connections each send a request before any response is read.
    func testWorkerProcessesTwoServesOnTwoEventLoops() throws {
        try startBackends(["a"])
        func upstreamConnections(workerProcesses: Int) throws -> Int {
            let backend = try TestBackend(name: "w\(workerProcesses)", group: group)
            defer { backend.stop() }
            let harness = try ProxyHarness("""
                worker_processes \(workerProcesses);
                http {
                    upstream pool { server \(backend.address); }
                    server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; } }
                }
                """)
            defer { harness.stop() }
            let clients = try (0..<4).map { _ in try harness.client() }
            for round in 0..<3 {
                for (index, client) in clients.enumerated() {
                    let r = try client.request("GET", "/")
                    XCTAssertEqual(r.status, 200, "worker_processes \(workerProcesses), client \(index), round \(round)")
                }
            }
            XCTAssertEqual(backend.requests, 12)
            return backend.acceptedConnections
        }
        XCTAssertEqual(try upstreamConnections(workerProcesses: 1), 1, "control: one loop, one pooled connection")
        XCTAssertEqual(try upstreamConnections(workerProcesses: 2), 2, "two loops, one pooled connection each")

        harness = try ProxyHarness("""
            worker_processes 2;
            http {
                upstream pool { server \(backends[0].address); }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; } }
            }
            """)
        let clients = try (0..<8).map { _ in try harness!.client() }
        for client in clients { try client.send("GET /slow/100 HTTP/1.1\r\nHost: a\r\n\r\n") }
        for client in clients {
            let r = try client.readResponse()
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(backendName(r), "a")
        }
        XCTAssertEqual(backends[0].requests, 8)
    }
}
