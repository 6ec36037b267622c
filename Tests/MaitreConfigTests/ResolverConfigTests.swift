import XCTest
@testable import MaitreConfig

/// `resolver`, `resolver_timeout` and `server NAME [service=NAME] resolve`, with nginx's checks and messages.
final class ResolverConfigTests: ConfigTestCase {
    private func http(_ body: String) -> HTTPConfiguration? {
        loadHTTP(body + "\nserver { location / { proxy_pass http://pool; } }")
    }

    func testResolveServersAreLeftForRunTime() throws {
        let config = try XCTUnwrap(http("""
            resolver 127.0.0.53 [::1]:5353 valid=30s ipv6=off status_zone=dns;
            resolver_timeout 5s;
            upstream pool {
                zone pool 64k;
                server app.internal:8080 resolve max_fails=2;
                server svc.internal service=http resolve;
                server 10.0.0.9 resolve;
                server server1.example.com;
            }
            """))
        let pool = try XCTUnwrap(config.upstream(named: "pool"))
        XCTAssertEqual(pool.zone, "pool")
        XCTAssertEqual(pool.resolver?.servers, [ResolvedAddress(ip: "127.0.0.53", port: 53), ResolvedAddress(ip: "::1", port: 5353)])
        XCTAssertEqual(pool.resolver?.valid, .seconds(30))
        XCTAssertEqual(pool.resolver?.ipv6, false)
        XCTAssertEqual(pool.resolverTimeout, .seconds(5))
        XCTAssertTrue(pool.resolvesAtRunTime)
        XCTAssertEqual(pool.servers[0].resolution, ServerResolution(host: "app.internal", port: 8080))
        XCTAssertEqual(pool.servers[0].addresses, [], "not looked up at load: the name need not resolve yet")
        XCTAssertEqual(pool.servers[0].maxFails, 2)
        XCTAssertEqual(pool.servers[1].resolution?.serviceQueryName, "_http._tcp.svc.internal")
        XCTAssertNil(pool.servers[2].resolution, "an address literal needs no lookup")
        XCTAssertEqual(pool.servers[2].addresses, [ResolvedAddress(ip: "10.0.0.9", port: 80)])
        XCTAssertEqual(pool.servers[3].addresses, [ResolvedAddress(ip: "127.0.0.1", port: 80)])
    }

    func testServiceQueryNames() {
        XCTAssertEqual(ServerResolution(host: "example.com", port: 80, service: "http").serviceQueryName, "_http._tcp.example.com")
        XCTAssertEqual(ServerResolution(host: "example.com", port: 80, service: "_sip._udp").serviceQueryName, "_sip._udp.example.com")
        XCTAssertNil(ServerResolution(host: "example.com", port: 80).serviceQueryName)
    }

    func testTheUpstreamsOwnResolverWinsAndTimeoutsDefaultTo30s() throws {
        let config = try XCTUnwrap(http("""
            upstream pool {
                zone pool;
                resolver 10.1.1.1;
                server app.internal resolve;
            }
            upstream other { zone other; server app.internal resolve; }
            resolver 10.2.2.2:5300;
            """))
        XCTAssertEqual(config.upstream(named: "pool")?.resolver?.servers, [ResolvedAddress(ip: "10.1.1.1", port: 53)])
        XCTAssertEqual(config.upstream(named: "other")?.resolver?.servers, [ResolvedAddress(ip: "10.2.2.2", port: 5300)],
                       "http's resolver, even written after the upstream")
        XCTAssertEqual(config.upstream(named: "pool")?.resolverTimeout, .seconds(30))
    }

    func testErrors() {
        assertHTTPError("upstream pool { server app.internal resolve; }\nresolver 10.0.0.1;",
                        "resolving names at run time requires upstream \"pool\" in @:2 to be in shared memory")
        assertHTTPError("upstream pool { zone pool; server app.internal resolve; }",
                        "no resolver defined to resolve names at run time in upstream \"pool\" in @:2")
        assertHTTPError("upstream pool { zone z; server app.internal service=http; }",
                        "service upstream \"app.internal\" requires \"resolve\" parameter in @:2")
        assertHTTPError("upstream pool { zone z; server app.internal:80 service=http resolve; }",
                        "service upstream \"app.internal:80\" may not have port in @:2")
        assertHTTPError("upstream pool { zone z; server 10.0.0.1 service=http resolve; }",
                        "service upstream \"10.0.0.1\" requires domain name in @:2")
        assertHTTPError("upstream pool { zone z; server app.internal service= resolve; }", "service is empty in @:2")
        assertHTTPError("resolver 10.0.0.1 valid=soon;", "invalid parameter: valid=soon in @:2")
        assertHTTPError("resolver 10.0.0.1 ipv6=maybe;", "invalid parameter: ipv6=maybe in @:2")
        assertHTTPError("resolver 10.0.0.1 ipv4=off ipv6=off;", "\"ipv4\" and \"ipv6\" cannot both be \"off\" in @:2")
        assertHTTPError("resolver valid=10s;", "no name servers defined in @:2")
        assertHTTPError("resolver 10.0.0.1:0;", "invalid port in resolver \"10.0.0.1:0\" in @:2")
        assertHTTPError("resolver nowhere.invalid;", "host not found in resolver \"nowhere.invalid\" in @:2")
        assertHTTPError("resolver 10.0.0.1;\nresolver 10.0.0.2;", "\"resolver\" directive is duplicate in @:3")
        assertHTTPError("resolver_timeout never;", "\"resolver_timeout\" directive invalid value in @:2")
    }
}
