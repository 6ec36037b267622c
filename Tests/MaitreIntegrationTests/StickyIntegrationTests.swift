import Foundation
import MaitreConfig
import NIOCore
import NIOPosix
import XCTest

/// `sticky cookie` and `sticky route` over real sockets, with two maitred instances that share nothing but their
/// configuration: a client alternating between them keeps reaching one backend.
final class StickyIntegrationTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var backends: [TestBackend] = []
    var harnesses: [ProxyHarness] = []

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        for harness in harnesses { harness.stop() }
        for backend in backends { backend.stop() }
        try? group.syncShutdownGracefully()
    }

    private func config(_ upstreamExtra: String, serverParameters: [String] = ["", "", ""]) -> String {
        let servers = zip(backends, serverParameters).map { "server \($0.address) \($1);" }.joined(separator: " ")
        return """
            http {
                upstream app { \(servers) \(upstreamExtra) }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://app; } }
            }
            """
    }

    private func cookieValue(_ response: TestHTTPClient.Response, _ name: String) -> String? {
        guard let header = response.headers.first(where: { $0.0.lowercased() == "set-cookie" })?.1,
            header.hasPrefix(name + "=")
        else { return nil }
        return String(header.dropFirst(name.count + 1).prefix { $0 != ";" })
    }

    func testTwoInstancesAgreeAndAFailedServerMovesTheClientOnce() throws {
        backends = try ["a", "b", "c"].map { try TestBackend(name: $0, group: group) }
        let text = config("sticky cookie srv_id expires=1h path=/;")
        harnesses = [try ProxyHarness(text), try ProxyHarness(text)]
        // The first answer sets the cookie to the chosen server's ID: the MD5 of its address, as nginx sets it.
        let first = try harnesses[0].get("/start")
        XCTAssertEqual(first.status, 200)
        let setCookie = try XCTUnwrap(first.header("Set-Cookie"))
        XCTAssertTrue(setCookie.hasSuffix("; path=/"), setCookie)
        XCTAssertTrue(setCookie.contains("; expires="), setCookie)
        XCTAssertTrue(setCookie.contains("; max-age=3600"), setCookie)
        let sid = try XCTUnwrap(cookieValue(first, "srv_id"))
        let home = try XCTUnwrap(backends.first { $0.requests == 1 })
        XCTAssertEqual(sid, md5Hex(home.address))

        // Twenty requests alternating between the two instances all reach the same backend.
        for index in 0..<20 {
            let response = try harnesses[index % 2].get("/r\(index)", headers: [("Cookie", "srv_id=\(sid)")])
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(cookieValue(response, "srv_id"), sid)
        }
        XCTAssertEqual(home.requests, 21)
        XCTAssertEqual(backends.map(\.requests).reduce(0, +), 21)

        // Its server goes away: the next request moves once (a new cookie) and stays on the new server.
        home.stop()
        let moved = try harnesses[1].get("/moved", headers: [("Cookie", "srv_id=\(sid)")])
        XCTAssertEqual(moved.status, 200)
        let newSID = try XCTUnwrap(cookieValue(moved, "srv_id"))
        XCTAssertNotEqual(newSID, sid)
        let newHome = try XCTUnwrap(backends.first { $0 !== home && $0.requests == 1 })
        XCTAssertEqual(newSID, md5Hex(newHome.address))
        for index in 0..<10 {
            let response = try harnesses[index % 2].get("/after\(index)", headers: [("Cookie", "srv_id=\(newSID)")])
            XCTAssertEqual(response.status, 200)
        }
        XCTAssertEqual(newHome.requests, 11)
    }

    func testRouteFollowsAVariableAndServerRoutes() throws {
        backends = try ["a", "b", "c"].map { try TestBackend(name: $0, group: group) }
        let harness = try ProxyHarness(
            config("sticky route $arg_route $cookie_route;", serverParameters: ["route=r1", "route=r2", "route=r3"]))
        harnesses = [harness]
        for _ in 0..<5 { XCTAssertEqual(try harness.get("/x?route=r2").status, 200) }
        for _ in 0..<3 { XCTAssertEqual(try harness.get("/y", headers: [("Cookie", "route=r3")]).status, 200) }
        XCTAssertEqual(backends.map(\.requests), [0, 5, 3])
        XCTAssertNil(try harness.get("/z?route=r1").header("Set-Cookie"), "route sets no cookie")
    }

    /// `sticky learn`: the server that set a session cookie gets that session's requests, on any connection and
    /// either event loop (the loops tell each other what they learn); an unknown session is balanced as usual.
    func testLearnFollowsTheSessionCookieTheServerSets() throws {
        for mode in ["", " header"] {
            let scripted = try ["a", "b", "c"].map { name in
                try ScriptedBackend(group: group) { path in
                    let cookie = path == "/login" ? "Set-Cookie: sess=\(name)-id; Path=/\r\n" : ""
                    return [.write(Array("HTTP/1.1 200 OK\r\n\(cookie)Content-Length: 1\r\n\r\n\(name)".utf8))]
                }
            }
            defer { for backend in scripted { backend.channel.close(promise: nil) } }
            let harness = try ProxyHarness("""
                http {
                    access_log off;
                    upstream app {
                        \(scripted.map { "server \($0.address);" }.joined(separator: " "))
                        sticky learn create=$upstream_cookie_sess lookup=$cookie_sess zone=sessions:1m timeout=1h\(mode);
                    }
                    server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://app; } }
                }
                """, workers: 2)
            defer { harness.stop() }
            let login = try harness.get("/login")
            XCTAssertEqual(login.status, 200)
            let owner = login.text
            let cookie = try XCTUnwrap(login.header("Set-Cookie"), "the server's own cookie passes through")
            XCTAssertTrue(cookie.hasPrefix("sess=\(owner)-id"), cookie)
            // New connections land on either loop; every one reaches the server that made the session.
            var seen: [String] = []
            for index in 0..<16 {
                let response = try harness.get("/page\(index)", headers: [("Cookie", "sess=\(owner)-id")])
                seen.append(response.text)
            }
            XCTAssertEqual(Set(seen), [owner], "mode\(mode): \(seen)")
            // A session nobody created is balanced as usual.
            var others: Set<String> = []
            for index in 0..<6 { others.insert(try harness.get("/x\(index)", headers: [("Cookie", "sess=nobody")]).text) }
            XCTAssertGreaterThan(others.count, 1, "\(others)")
        }
    }
}
