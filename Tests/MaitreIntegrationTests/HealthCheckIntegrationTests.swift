import Foundation
import NIOCore
import NIOPosix
import XCTest

@testable import MaitreProxy

/// Active health checks on real sockets: a dead server stops getting traffic without a client paying for it
/// (`proxy_next_upstream off`, so a request sent to a dead server would be a 502), comes back when it does,
/// `default_down` holds traffic until the checks pass, and a reload keeps the verdicts.
final class HealthCheckIntegrationTests: ProxyTestCase {
    /// `count` requests, each on a fresh connection: the statuses, and which backend answered (X-Backend).
    private func requests(_ count: Int) throws -> (statuses: [Int], backends: [String]) {
        var statuses: [Int] = []
        var backends: [String] = []
        for _ in 0..<count {
            let response = try harness!.get("/")
            statuses.append(response.status)
            backends.append(response.header("X-Backend") ?? "-")
        }
        return (statuses, backends)
    }

    /// Polls `condition` every 20 ms for at most `seconds`.
    private func eventually(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }

    private func config(_ servers: [String], check: String, extra: String = "") -> String {
        """
        http {
            upstream pool {
                \(servers.map { "server \($0);" }.joined(separator: " "))
                \(check)
                \(extra)
            }
            server {
                listen 127.0.0.1:PROXY_PORT;
                location / { proxy_pass http://pool; proxy_next_upstream off; }
            }
        }
        """
    }

    /// type=tcp: a stopped server is taken out after `fall` failed probes and no request goes to it; started again
    /// on the same port, it gets traffic back after `rise` successful ones.
    func testDeadServerStopsGettingTrafficAndComesBack() throws {
        let a = try TestBackend(name: "a", group: group)
        var b = try TestBackend(name: "b", group: group)
        let bPort = b.port
        backends = [a, b]
        harness = try ProxyHarness(config(
            [a.address, b.address + " max_fails=0"], check: "check interval=100 rise=1 fall=1 timeout=300 type=tcp;"))

        XCTAssertTrue(try eventually(5) { Set(try requests(4).backends) == ["a", "b"] },
                      "both servers pass their first probe and share the traffic")

        b.stop()
        // Until the next probe of b fails, a request may still be sent to it (and be a 502, with retries off).
        XCTAssertTrue(try eventually(5) { try requests(10).statuses.allSatisfy { $0 == 200 } },
                      "the dead server is taken out")
        let after = try requests(30)
        XCTAssertEqual(after.statuses, Array(repeating: 200, count: 30), "no request reaches the dead server")
        XCTAssertEqual(Set(after.backends), ["a"])

        // max_fails=0 on b: the request that met it dead would otherwise keep it out for fail_timeout by passive
        // health, which the check module leaves to nginx (a server must pass both).
        b = try TestBackend(name: "b", group: group, port: bPort)
        backends.append(b)
        XCTAssertTrue(try eventually(5) { try requests(4).backends.contains("b") }, "back after a passing probe")
    }

    /// type=http with `check_http_expect_alive http_2xx`: a server that answers its probe with 500 never gets a
    /// request, one that answers 200 gets them all.
    func testHTTPCheckTakesOutAServerAnsweringFiveHundred() throws {
        let good = try TestBackend(name: "good", group: group)
        let failing = try ScriptedBackend(group: group) { _ in
            [.write(Array("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".utf8)), .close]
        }
        defer { failing.stop() }
        backends = [good]
        harness = try ProxyHarness(config(
            [good.address, failing.address],
            check: """
                check interval=100 rise=1 fall=1 timeout=300 type=http;
                check_http_send "GET / HTTP/1.0\\r\\n\\r\\n";
                check_http_expect_alive http_2xx;
                """))
        XCTAssertTrue(try eventually(5) { try requests(1).statuses == [200] }, "the good server comes up")
        XCTAssertTrue(eventually(5) { failing.acceptedConnections >= 2 }, "the failing server is probed")
        let result = try requests(30)
        XCTAssertEqual(result.statuses, Array(repeating: 200, count: 30))
        XCTAssertEqual(Set(result.backends), ["good"])
    }

    /// default_down (the module's default): a server gets no traffic before `rise` probes passed, so a request
    /// made at once finds no live upstream. The first probe comes within the interval, the second one interval
    /// after it ends.
    func testDefaultDownHoldsTrafficUntilTheChecksPass() throws {
        let a = try TestBackend(name: "a", group: group)
        backends = [a]
        harness = try ProxyHarness(config([a.address], check: "check interval=3000 rise=2 fall=1 timeout=500;"))
        XCTAssertEqual(try harness!.get("/").status, 502, "no live upstream before the checks pass")
        XCTAssertEqual(a.requests, 0)
    }

    /// A reload that keeps the server and its check keeps the verdict: traffic goes on at once. A server the
    /// reload adds starts down (default_down) and, refusing connections, never gets a request; with
    /// `default_down=false` it would take every other request until its first probe failed.
    func testReloadKeepsVerdictsAndNewServersStartDown() throws {
        let a = try TestBackend(name: "a", group: group)
        backends = [a]
        let check = "check interval=200 rise=1 fall=1 timeout=300;"
        harness = try ProxyHarness(config([a.address], check: check))
        XCTAssertTrue(try eventually(5) { try requests(1).statuses == [200] })

        let refusing = "127.0.0.1:\(try freeLoopbackPort())"
        try harness!.reload(config([a.address, refusing], check: check))
        let right = try requests(10)
        XCTAssertEqual(right.statuses, Array(repeating: 200, count: 10),
                       "a kept its verdict across the reload, and the new server starts down")
        let later = try requests(20)
        XCTAssertEqual(later.statuses, Array(repeating: 200, count: 20), "the new server never comes up")
    }

    /// `check_status` serves the module's page from the registry's verdicts, in the configured format or the one
    /// `?format=` asks for; anything but GET and HEAD is refused.
    func testCheckStatusPage() throws {
        let a = try TestBackend(name: "a", group: group)
        backends = [a]
        let refusing = "127.0.0.1:\(try freeLoopbackPort())"
        harness = try ProxyHarness("""
            http {
                upstream pool {
                    server \(a.address);
                    server \(refusing);
                    check interval=100 rise=1 fall=1 timeout=300 type=tcp;
                }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://pool; }
                    location = /status { check_status json; }
                }
            }
            """)
        XCTAssertTrue(try eventually(5) {
            try harness!.get("/status?format=csv").text.contains("0,pool,\(a.address),up,")
        }, "the checked server shows up once its probe passed")
        let json = try harness!.get("/status")
        XCTAssertEqual(json.status, 200)
        XCTAssertEqual(json.header("Content-Type"), "application/json")
        XCTAssertTrue(json.text.contains("\"total\": 2,"), json.text)
        XCTAssertTrue(json.text.contains("{\"index\": 1, \"upstream\": \"pool\", \"name\": \"\(refusing)\", "
                                         + "\"status\": \"down\""), json.text)
        let downOnly = try harness!.get("/status?format=csv&status=down").text
        XCTAssertTrue(downOnly.hasPrefix("1,pool,\(refusing),down,0,"), downOnly)
        XCTAssertEqual(downOnly.split(separator: "\n").count, 1)
        let html = try harness!.get("/status?format=html")
        XCTAssertEqual(html.header("Content-Type"), "text/html")
        XCTAssertTrue(html.text.contains("<h1>Nginx http upstream check status</h1>"))
        XCTAssertEqual(try harness!.client().request("POST", "/status").status, 405)
    }
}
