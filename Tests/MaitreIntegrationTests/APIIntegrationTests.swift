import Foundation
import XCTest

/// The runtime API over real sockets: reads in nginx Plus's shapes, PATCHes that move traffic at once, drains
/// under load that lose nothing, write protection, allow/deny, and the state file across a restart.
final class APIIntegrationTests: ProxyTestCase {
    private func config(_ a: TestBackend, _ b: TestBackend, state: String = "") -> String {
        """
        http {
            access_log off;
            upstream app {
                zone app 64k;
                \(state)
                server \(a.address);
                server \(b.address);
            }
            server {
                listen 127.0.0.1:PROXY_PORT;
                location / { proxy_pass http://app; }
                location /api { api write=on; allow 127.0.0.1; deny all; }
                location /readonly/api/ { api; }
            }
        }
        """
    }

    private func json(_ response: TestHTTPClient.Response, file: StaticString = #filePath, line: UInt = #line) throws -> Any {
        XCTAssertEqual(response.header("Content-Type"), "application/json", file: file, line: line)
        return try JSONSerialization.jsonObject(with: Data(response.text.utf8), options: [.fragmentsAllowed])
    }

    private func patch(_ path: String, _ body: String) throws -> TestHTTPClient.Response {
        try harness!.client().request("PATCH", path, body: body)
    }

    private func peers() throws -> [[String: Any]] {
        let upstream = try json(try harness!.get("/api/9/http/upstreams/app")) as? [String: Any]
        return try XCTUnwrap(upstream?["peers"] as? [[String: Any]])
    }

    func testReadsPatchesAndRefusals() throws {
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        backends = [a, b]
        harness = try ProxyHarness(config(a, b), workers: 1)  // one loop: round robin's order is exact
        XCTAssertEqual(try json(try harness!.get("/api/")) as? [Int], Array(1...9))
        XCTAssertEqual(try json(try harness!.get("/api/9/")) as? [String], ["nginx", "connections", "http", "stream"])
        let nginx = try json(try harness!.get("/api/9/nginx")) as? [String: Any]
        XCTAssertEqual(nginx?["pid"] as? Int, Int(getpid()))
        XCTAssertEqual(nginx?["generation"] as? Int, 1)
        for _ in 0..<10 { XCTAssertEqual(try harness!.get("/").status, 200) }
        var list = try peers()
        XCTAssertEqual(list.map { $0["server"] as? String }, [a.address, b.address])
        XCTAssertEqual(list.map { $0["id"] as? Int }, [0, 1])
        XCTAssertEqual(list.map { $0["state"] as? String }, ["up", "up"])
        XCTAssertEqual(list.map { $0["requests"] as? Int }, [5, 5])
        XCTAssertEqual(list.compactMap { ($0["response_time"] as? [String: Any])?["counts"] as? [Int] }
                        .map { $0.reduce(0, +) }, [5, 5], "every attempt's time is in its peer's histogram")

        // A weight change moves the shares at once: 3:1 over the next 40 requests (smooth round robin).
        let weighted = try patch("/api/9/http/upstreams/app/servers/0", #"{"weight":3}"#)
        XCTAssertEqual(weighted.status, 200, weighted.text)
        XCTAssertEqual((try json(weighted) as? [String: Any])?["weight"] as? Int, 3)
        let (aBefore, bBefore) = (a.requests, b.requests)
        for _ in 0..<40 { XCTAssertEqual(try harness!.get("/", headers: [("Connection", "close")]).status, 200) }
        XCTAssertEqual(a.requests - aBefore, 30)
        XCTAssertEqual(b.requests - bBefore, 10)

        // down takes it out, down=false brings it back; the history says who did it.
        XCTAssertEqual(try patch("/api/9/http/upstreams/app/servers/1", #"{"down":true}"#).status, 200)
        let bDown = b.requests
        for _ in 0..<10 { XCTAssertEqual(try harness!.get("/").status, 200) }
        XCTAssertEqual(b.requests, bDown)
        list = try peers()
        XCTAssertEqual(list[1]["state"] as? String, "down")
        XCTAssertEqual((list[1]["history"] as? [[String: Any]])?.compactMap { $0["event"] as? String }, ["set down by API"])
        XCTAssertEqual(try patch("/api/9/http/upstreams/app/servers/1", #"{"down":false}"#).status, 200)
        XCTAssertEqual(try peers()[1]["state"] as? String, "up")
        let servers = try json(try harness!.get("/api/9/http/upstreams/app/servers")) as? [[String: Any]]
        XCTAssertEqual(servers?.map { $0["weight"] as? Int }, [3, 1])
        XCTAssertEqual(servers?.map { $0["down"] as? Bool }, [false, false])

        // Refusals, each with nginx Plus's code.
        func code(_ response: TestHTTPClient.Response) throws -> String? {
            ((try json(response) as? [String: Any])?["error"] as? [String: Any])?["code"] as? String
        }
        let bad = try patch("/api/9/http/upstreams/app/servers/0", #"{"weight":-1}"#)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(try code(bad), "UpstreamBadWeight")
        let missing = try patch("/api/9/http/upstreams/app/servers/7", #"{"drain":true}"#)
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(try code(missing), "UpstreamServerNotFound")
        XCTAssertEqual(try code(try patch("/api/9/http/upstreams/none/servers/0", #"{"drain":true}"#)), "UpstreamNotFound")
        XCTAssertEqual(try code(try harness!.get("/api/9/http/caches")), "PathNotFound")
        let disabled = try harness!.client().request("PATCH", "/readonly/api/9/http/upstreams/app/servers/0",
                                                     body: #"{"drain":true}"#)
        XCTAssertEqual(disabled.status, 405)
        XCTAssertEqual(try code(disabled), "MethodDisabled")
        XCTAssertEqual(try code(try harness!.client().request("DELETE", "/api/9/http/upstreams/app/servers/0")),
                       "MethodNotSupported")
        XCTAssertEqual(try code(try harness!.client().request("POST", "/api/9/http/upstreams/app/servers", body: "{}")),
                       "MethodNotSupported")
        let tooLarge = try patch("/api/9/http/upstreams/app/servers/0", String(repeating: " ", count: 20_000) + "{}")
        XCTAssertEqual(tooLarge.status, 413)
        XCTAssertEqual(try harness!.get("/api/9/nginx", source: "127.0.0.2").status, 403, "deny all but 127.0.0.1")
        XCTAssertEqual(try harness!.get("/readonly/api/9/http/upstreams/app").status, 200)
        XCTAssertEqual(try peers().map { $0["weight"] as? Int }, [3, 1], "refused changes changed nothing")
        // Run-time changes survive a reload that leaves the server lines alone.
        try harness!.reload(config(a, b))
        XCTAssertEqual(try peers().map { $0["weight"] as? Int }, [3, 1], "the API's weight outlives the reload")
        XCTAssertEqual((try json(try harness!.get("/api/9/nginx")) as? [String: Any])?["generation"] as? Int, 2)
        // A keep-alive connection carries a PATCH and the next request.
        let client = try harness!.client()
        XCTAssertEqual(try client.request("PATCH", "/api/9/http/upstreams/app/servers/0", body: #"{"weight":1}"#).status, 200)
        XCTAssertEqual(try client.request("GET", "/").status, 200)
    }

    /// A drain under load: every request succeeds, the drained peer's in-flight requests finish, it is selected
    /// for none after the PATCH returns, and its `active` count goes back to 0.
    func testDrainUnderLoadLosesNothing() throws {
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        backends = [a, b]
        harness = try ProxyHarness(config(a, b), workers: 2)
        let port = harness!.port
        let tally = LoadTally()
        let load = LoadThreads(count: 4, maxIterations: 2_000) { _, _ in
            do {
                let response = try TestHTTPClient(port: port).request("GET", "/slow/20")
                if response.status == 200 { tally.success(body: response.text) } else { tally.failure("\(response.status)") }
            } catch {
                tally.failure("\(error)")
            }
        }
        XCTAssertTrue(pollUntil(timeout: 10) { a.requests >= 10 && b.requests >= 10 }, "load reaches both")
        let drained = try patch("/api/9/http/upstreams/app/servers/1", #"{"drain":true}"#)
        XCTAssertEqual(drained.status, 200, drained.text)
        let selectedAtDrain = try XCTUnwrap(try peers()[1]["requests"] as? Int)
        let aAtDrain = a.requests
        XCTAssertTrue(pollUntil(timeout: 10) { a.requests >= aAtDrain + 40 }, "load goes on")
        XCTAssertTrue(load.stop())
        let after = try peers()
        XCTAssertEqual(after[1]["requests"] as? Int, selectedAtDrain, "no new request went to the drained peer")
        XCTAssertEqual(after[1]["state"] as? String, "draining")
        XCTAssertEqual(after.map { $0["active"] as? Int }, [0, 0], "in-flight requests finished and were released")
        let counts = tally.value
        XCTAssertEqual(counts.failed, 0, "\(counts.failures)")
        XCTAssertGreaterThanOrEqual(counts.succeeded, 60)
    }

    /// `maitred -s drain UPSTREAM/SERVER --wait`: returns once the peer's last request is over, not before; a
    /// short wait fails while a request is still in flight.
    func testDrainCommandWaitsUntilIdle() throws {
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        backends = [a, b]
        harness = try ProxyHarness(config(a, b))
        let file = harness!.directory + "/maitre.conf"
        let slow = try harness!.client()
        try slow.send("GET /slow/2500 HTTP/1.1\r\nHost: x\r\n\r\n")  // round robin: the first request goes to a
        XCTAssertTrue(pollUntil(timeout: 5) { a.requests == 1 })
        let short = try MaitredBinary.run(["-c", file, "-s", "drain", "app/\(a.address)", "--wait", "200ms"])
        XCTAssertEqual(short.status, 1)
        XCTAssertTrue(short.stderr.contains("still has 1 active request after 200 ms"), short.stderr)
        let started = Date()
        let waited = try MaitredBinary.run(["-c", file, "-s", "drain", "app/\(a.address)", "--wait", "10s"])
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(waited.status, 0, waited.stderr)
        XCTAssertEqual(waited.stderr, "maitred: app/\(a.address): draining, idle\n")
        XCTAssertGreaterThan(elapsed, 1.0, "it waited for the slow request")
        XCTAssertEqual(try slow.readResponse().status, 200, "the in-flight request finished")
        for _ in 0..<6 { XCTAssertEqual(try harness!.get("/").text, "b\n") }
        let up = try MaitredBinary.run(["-c", file, "-s", "up", "app/0"])
        XCTAssertEqual(up.status, 0, up.stderr)
        XCTAssertEqual(Set(try (0..<4).map { _ in try harness!.get("/").text }), ["a\n", "b\n"])
        let unknown = try MaitredBinary.run(["-c", file, "-s", "drain", "app/10.9.9.9:1"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertEqual(unknown.stderr, "maitred: [error] no server \"10.9.9.9:1\" in the upstream\n")
    }

    /// `state FILE`: API changes are written atomically and restored by the next process (here: a new server
    /// on the same file), which then routes by them.
    func testStateFileRestoresAfterRestart() throws {
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        backends = [a, b]
        let directory = try makeTemporaryDirectory()
        defer { removeDirectory(directory) }
        let stateFile = directory + "/app.state"
        let text = config(a, b, state: "state \(stateFile);")
        harness = try ProxyHarness(text, logFileLevel: .warn)
        XCTAssertEqual(try patch("/api/9/http/upstreams/app/servers/0", #"{"weight":4}"#).status, 200)
        XCTAssertEqual(try patch("/api/9/http/upstreams/app/servers/1", #"{"drain":true}"#).status, 200)
        XCTAssertTrue(pollUntil(timeout: 5) { readFile(stateFile)?.contains("drain;") == true },
                      (readFile(stateFile) ?? "no file") + (readFile(harness!.errorLogPath) ?? ""))
        XCTAssertTrue(readFile(stateFile)!.hasSuffix("server \(a.address) weight=4;\nserver \(b.address) drain;\n"))
        harness!.stop()
        harness = nil
        harness = try ProxyHarness(text)
        let list = try peers()
        XCTAssertEqual(list.map { $0["weight"] as? Int }, [4, 1])
        XCTAssertEqual(list.map { $0["state"] as? String }, ["up", "draining"])
        XCTAssertEqual((list[1]["history"] as? [[String: Any]])?.first?["event"] as? String, "drain restored from state file")
        let bBefore = b.requests
        for _ in 0..<8 { XCTAssertEqual(try harness!.get("/").text, "a\n") }
        XCTAssertEqual(b.requests, bBefore)
        // Back up: the override is gone from the file.
        XCTAssertEqual(try patch("/api/9/http/upstreams/app/servers/1", #"{"drain":false}"#).status, 200)
        XCTAssertTrue(pollUntil(timeout: 5) { readFile(stateFile)?.contains(" drain;") == false })
    }
}
