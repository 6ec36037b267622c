import MaitreConfig
import NIOCore
import NIOPosix
import XCTest

/// Distribution through real sockets: maitred in front of real backends on loopback.
final class BalancingIntegrationTests: XCTestCase {
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

    /// least_conn sends new requests away from a backend whose requests are still in flight.
    func testLeastConnSteersAwayFromSlowBackend() throws {
        try startBackends(["slow", "fast"], delay: ["slow": .milliseconds(400)])
        harness = try ProxyHarness("""
            http {
                upstream pool { least_conn; server \(backends[0].address); server \(backends[1].address); }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; } }
            }
            """)
        // Four clients in parallel, five requests each: while "slow" holds a request, new ones go to "fast".
        let port = harness!.port
        let results = NIOLockedValueBoxForTests([String]())
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            guard let client = try? TestHTTPClient(port: port) else { return }
            for _ in 0..<5 {
                if let r = try? client.request("GET", "/") {
                    results.append(r.text.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
        }
        let all = results.value
        XCTAssertEqual(all.count, 20)
        let slow = all.filter { $0 == "slow" }.count
        let fast = all.filter { $0 == "fast" }.count
        XCTAssertGreaterThan(fast, slow * 2, "fast=\(fast) slow=\(slow)")
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


/// A small lock-protected box for collecting results from concurrent test clients.
final class NIOLockedValueBoxForTests<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()
    init(_ value: Value) { stored = value }
    var value: Value { lock.lock(); defer { lock.unlock() }; return stored }
    func mutate(_ body: (inout Value) -> Void) { lock.lock(); body(&stored); lock.unlock() }
}

extension NIOLockedValueBoxForTests where Value == [String] {
    func append(_ s: String) { mutate { $0.append(s) } }
}
