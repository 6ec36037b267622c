import XCTest

/// `allow` / `deny` on real sockets, from 127.0.0.1: an allowed status page, a denied location (403, logged as
/// nginx logs it), a location whose `return` answers anyway (nginx's rewrite phase runs before its access phase),
/// and the server's rules for a path no location matches.
final class AccessRuleIntegrationTests: ProxyTestCase {
    func testRulesDecideByClientAddress() throws {
        let backend = try TestBackend(name: "b", group: group)
        backends = [backend]
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    deny 127.0.0.1;
                    location / { allow 127.0.0.0/8; deny all; proxy_pass http://\(backend.address); }
                    location /status { deny 10.0.0.0/8; allow 127.0.0.1; deny all; stub_status; }
                    location /secret { deny 127.0.0.0/24; allow all; proxy_pass http://\(backend.address); }
                    location /ret { deny all; return 200 "answered"; }
                    location = /exact { proxy_pass http://\(backend.address); }
                }
            }
            """, logFileLevel: .error)
        XCTAssertEqual(try harness!.get("/page").status, 200, "127.0.0.0/8 is allowed here")
        XCTAssertEqual(try harness!.get("/status").status, 200)
        let secret = try harness!.get("/secret")
        XCTAssertEqual(secret.status, 403)
        XCTAssertEqual(backend.requests, 1, "the denied request never reached the backend")
        XCTAssertEqual(try harness!.get("/ret").text, "answered", "return runs before the access rules, as in nginx")
        XCTAssertEqual(try harness!.get("/exact").status, 403, "no rules of its own: the server's deny")
        XCTAssertTrue(eventually(5) {
            (readFile(self.harness!.errorLogPath) ?? "").contains(
                "access forbidden by rule, client: 127.0.0.1, server: , request: \"GET /secret HTTP/1.1\"")
        }, readFile(harness!.errorLogPath) ?? "no log")
    }
}
