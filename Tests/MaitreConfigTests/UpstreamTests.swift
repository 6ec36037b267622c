import XCTest
@testable import MaitreConfig

final class UpstreamTests: ConfigTestCase {
    /// An upstream body plus a server using it; the upstream's first line is line 3.
    private func upstream(_ body: String, resolver: FakeResolver = .standard) -> Upstream? {
        loadHTTP("upstream pool {\n\(body)\n}\nserver { location / { proxy_pass http://pool; } }", resolver: resolver)?
            .upstream(named: "pool")
    }

    private func assertUpstreamError(_ body: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        assertHTTPError("upstream pool {\n\(body)\n}", expected, file: file, line: line)
    }

    func testServerParametersAndDefaults() throws {
        let pool = try XCTUnwrap(upstream("""
            server 10.0.0.1;
            server 10.0.0.2:8080 weight=5 max_fails=0 fail_timeout=1m backup;
            server [::1]:9000 down;
            server backend.local:81;
            """))
        XCTAssertEqual(pool.servers.count, 4)
        let first = pool.servers[0]
        XCTAssertEqual(first.name, "10.0.0.1")
        XCTAssertEqual(first.addresses, [ResolvedAddress(ip: "10.0.0.1", port: 80)])
        XCTAssertEqual(first.weight, 1)
        XCTAssertEqual(first.maxFails, 1)
        XCTAssertEqual(first.failTimeout, .seconds(10))
        XCTAssertFalse(first.backup)
        XCTAssertFalse(first.down)
        XCTAssertEqual(first.source, SourceLocation(file: mainFile, line: 3))
        XCTAssertEqual(pool.servers[1].weight, 5)
        XCTAssertEqual(pool.servers[1].maxFails, 0)
        XCTAssertEqual(pool.servers[1].failTimeout, .seconds(60))
        XCTAssertTrue(pool.servers[1].backup)
        XCTAssertEqual(pool.servers[2].addresses, [ResolvedAddress(ip: "::1", port: 9000)])
        XCTAssertTrue(pool.servers[2].down)
        XCTAssertEqual(pool.servers[3].name, "backend.local:81")
        XCTAssertEqual(pool.servers[3].addresses.map(\.description), ["10.0.0.1:81", "10.0.0.2:81", "[::1]:81"])
        XCTAssertEqual(pool.method, .roundRobin)
        XCTAssertEqual(pool.keepalive, 32)
        XCTAssertTrue(pool.keepaliveIsLocal)
        XCTAssertEqual(pool.keepaliveTimeout, .seconds(60))
        XCTAssertEqual(pool.keepaliveRequests, 1000)
        XCTAssertEqual(pool.keepaliveTime, .seconds(3600))
        XCTAssertFalse(pool.isImplicit)
        XCTAssertEqual(pool.source, SourceLocation(file: mainFile, line: 2))
    }

    func testKeepaliveDirectives() throws {
        let pool = try XCTUnwrap(upstream("server 10.0.0.1;\nkeepalive 16 local;\nkeepalive_timeout 30s;\nkeepalive_requests 50;\nkeepalive_time 10m;"))
        XCTAssertEqual(pool.keepalive, 16)
        XCTAssertTrue(pool.keepaliveIsLocal)
        XCTAssertEqual(pool.keepaliveTimeout, .seconds(30))
        XCTAssertEqual(pool.keepaliveRequests, 50)
        XCTAssertEqual(pool.keepaliveTime, .seconds(600))
        XCTAssertEqual(upstream("server 10.0.0.1;\nkeepalive 0;")?.keepalive, 0)
        XCTAssertEqual(upstream("server 10.0.0.1;\nkeepalive 8;")?.keepaliveIsLocal, false)
    }

    func testSlowStart() {
        XCTAssertEqual(upstream("server 10.0.0.1;")?.servers.first?.slowStart, .zero)
        XCTAssertEqual(upstream("server 10.0.0.1 slow_start=30s;")?.servers.first?.slowStart, .seconds(30))
        XCTAssertEqual(upstream("server 10.0.0.1 slow_start=1m;")?.servers.first?.slowStart, .seconds(60))
    }

    func testQueue() throws {
        XCTAssertNil(upstream("server 10.0.0.1;")?.queue, "no queue unless asked for")
        XCTAssertEqual(upstream("server 10.0.0.1;\nqueue 100;")?.queue, UpstreamQueueSettings(capacity: 100, timeout: .seconds(60)))
        XCTAssertEqual(upstream("server 10.0.0.1;\nqueue 5 timeout=1500ms;")?.queue, UpstreamQueueSettings(capacity: 5, timeout: TimeSpan(milliseconds: 1500)))
        XCTAssertEqual(upstream("server 10.0.0.1;\nqueue 5 timeout=30;")?.queue?.timeout, .seconds(30), "a bare number is seconds")
        assertUpstreamError("server 10.0.0.1;\nqueue 0;", "\"queue\" directive invalid value in @:4")
        assertUpstreamError("server 10.0.0.1;\nqueue x;", "\"queue\" directive invalid value in @:4")
        assertUpstreamError("server 10.0.0.1;\nqueue 5 wait=3s;", "invalid parameter \"wait=3s\" in @:4")
        assertUpstreamError("server 10.0.0.1;\nqueue 5 timeout=soon;", "invalid parameter \"timeout=soon\" in @:4")
        assertUpstreamError("server 10.0.0.1;\nqueue 5;\nqueue 6;", "\"queue\" directive is duplicate in @:5")
        assertUpstreamError("server 10.0.0.1;\nqueue;", "invalid number of arguments in \"queue\" directive in @:4")
        assertHTTPError("queue 5;", "\"queue\" directive is not allowed here in @:2")
    }

    func testMethods() {
        XCTAssertEqual(upstream("least_conn;\nserver 10.0.0.1;")?.method, .leastConn)
        XCTAssertEqual(upstream("server 10.0.0.1 weight=2;\nip_hash;")?.method, .ipHash)
        // nginx checks `backup` against the method known when the server line is read.
        XCTAssertEqual(upstream("server 10.0.0.1 backup;\nip_hash;")?.servers.first?.backup, true)
        XCTAssertEqual(upstream("least_conn;\nserver 10.0.0.1 backup;\nserver 10.0.0.2;")?.servers.first?.backup, true)
    }

    /// `hash KEY [consistent]` (ngx_http_upstream_hash_module): a key with variables, `consistent` or nothing, and
    /// the flags nginx gives the hash methods (no `backup`; nginx Plus refuses `slow_start` there too).
    func testHash() {
        let key = VariableTemplate(parts: [.variable(.requestURI)])
        XCTAssertEqual(upstream("hash $request_uri;\nserver 10.0.0.1;")?.method, .hash(key: key, consistent: false))
        XCTAssertEqual(upstream("hash $request_uri consistent;\nserver 10.0.0.1;")?.method,
                       .hash(key: key, consistent: true))
        XCTAssertEqual(upstream("hash \"$remote_addr-$http_x_user\";\nserver 10.0.0.1;")?.method,
                       .hash(key: VariableTemplate(parts: [.variable(.remoteAddr), .literal("-"),
                                                           .variable(.httpHeader("x_user"))]), consistent: false))
        XCTAssertEqual(upstream("hash $request_uri maglev;\nserver 10.0.0.1;")?.method, .maglev(key: key))
        assertUpstreamError("hash $request_uri sometimes;\nserver 10.0.0.1;", "invalid parameter \"sometimes\" in @:3")
        assertUpstreamError("hash $nope;\nserver 10.0.0.1;", "unknown \"nope\" variable in @:3")
        assertUpstreamError("hash;\nserver 10.0.0.1;", "invalid number of arguments in \"hash\" directive in @:3")
        assertUpstreamError("hash $request_uri;\nserver 10.0.0.1 backup;",
                            "balancing method does not support parameter \"backup\" in @:4")
        assertUpstreamError("hash $request_uri consistent;\nserver 10.0.0.1 slow_start=5s;",
                            "balancing method does not support parameter \"slow_start=5s\" in @:4")
        assertHTTPError("hash $request_uri;", "\"hash\" directive is not allowed here in @:2")
    }

    func testRandom() {
        XCTAssertEqual(upstream("random;\nserver 10.0.0.1;")?.method, .random(two: false))
        XCTAssertEqual(upstream("random two;\nserver 10.0.0.1;")?.method, .random(two: true))
        XCTAssertEqual(upstream("random two least_conn;\nserver 10.0.0.1;")?.method, .random(two: true))
        assertUpstreamError("random three;\nserver 10.0.0.1;", "invalid parameter \"three\" in @:3")
        XCTAssertEqual(upstream("random two least_time=header;\nserver 10.0.0.1;")?.method,
                       .random(two: true, leastTime: .header))
        XCTAssertEqual(upstream("random two least_time=last_byte;\nserver 10.0.0.1;")?.method,
                       .random(two: true, leastTime: .lastByte))
        assertUpstreamError("random two least_time=first_byte;\nserver 10.0.0.1;",
                            "invalid parameter \"least_time=first_byte\" in @:3")
        assertUpstreamError("random;\nserver 10.0.0.1 backup;",
                            "balancing method does not support parameter \"backup\" in @:4")
    }

    func testMethodRedefinedWarns() throws {
        let configuration = try XCTUnwrap(load("http {\nupstream pool {\nleast_conn;\nip_hash;\nserver 10.0.0.1;\n}\n}"))
        XCTAssertEqual(configuration.http?.upstream(named: "pool")?.method, .ipHash)
        XCTAssertEqual(configuration.warnings, [ConfigError("load balancing method redefined", at: SourceLocation(file: mainFile, line: 4))])
    }

    func testErrors() {
        assertUpstreamError("ip_hash;\nserver 10.0.0.1 backup;", "balancing method does not support parameter \"backup\" in @:4")
        assertUpstreamError("server 10.0.0.1 weight=0;", "invalid parameter \"weight=0\" in @:3")
        assertUpstreamError("server 10.0.0.1 weight=x;", "invalid parameter \"weight=x\" in @:3")
        assertUpstreamError("server 10.0.0.1 max_fails=-1;", "invalid parameter \"max_fails=-1\" in @:3")
        assertUpstreamError("server 10.0.0.1 fail_timeout=500ms;", "invalid parameter \"fail_timeout=500ms\" in @:3")
        assertUpstreamError("server 10.0.0.1 heavy;", "invalid parameter \"heavy\" in @:3")
        assertUpstreamError("server 10.0.0.1 slow_start=10ms;", "invalid parameter \"slow_start=10ms\" in @:3")
        assertUpstreamError("ip_hash;\nserver 10.0.0.1 slow_start=10s;", "balancing method does not support parameter \"slow_start=10s\" in @:4")
        assertUpstreamError("server 10.0.0.1 max_conns=-1;", "invalid parameter \"max_conns=-1\" in @:3")
        assertUpstreamError("server unix:/tmp/app.sock;", "unix domain sockets are not supported in upstream \"unix:/tmp/app.sock\" in @:3")
        assertUpstreamError("server 10.0.0.1:0;", "invalid port in upstream \"10.0.0.1:0\" in @:3")
        assertUpstreamError("server 10.0.0.1:http;", "invalid port in upstream \"10.0.0.1:http\" in @:3")
        assertUpstreamError("server :8080;", "no host in upstream \":8080\" in @:3")
        assertUpstreamError("server 10.0.0.1/x;", "invalid host in upstream \"10.0.0.1/x\" in @:3")
        assertUpstreamError("server [::1;", "invalid host in upstream \"[::1\" in @:3")
        assertUpstreamError("server [zz]:80;", "invalid IPv6 address in upstream \"[zz]:80\" in @:3")
        assertUpstreamError("server app9.example.com:8080;", "host not found in upstream \"app9.example.com:8080\" in @:3")
        assertUpstreamError("server;", "invalid number of arguments in \"server\" directive in @:3")
        assertUpstreamError("server 10.0.0.1;\nkeepalive 1;\nkeepalive 2;", "\"keepalive\" directive is duplicate in @:5")
        assertUpstreamError("server 10.0.0.1;\nkeepalive many;", "invalid value \"many\" in \"keepalive\" directive in @:4")
        assertUpstreamError("server 10.0.0.1;\nkeepalive 4 global;", "invalid parameter \"global\" in @:4")
        assertUpstreamError("server 10.0.0.1;\nkeepalive_timeout 1y;", "\"keepalive_timeout\" directive invalid value in @:4")
        assertUpstreamError("server 10.0.0.1;\nkeepalive_requests x;", "\"keepalive_requests\" directive invalid number in @:4")
        assertUpstreamError("server 10.0.0.1;\nkeepalive_timeout 1s 2s;", "invalid number of arguments in \"keepalive_timeout\" directive in @:4")
        assertUpstreamError("server 10.0.0.1;\nproxy_pass http://x;", "\"proxy_pass\" directive is not allowed here in @:4")
        assertUpstreamError("", "no servers are inside upstream in @:4")
        assertHTTPError("upstream a { server 10.0.0.1; }\nupstream A { server 10.0.0.2; }", "duplicate upstream \"A\" in @:3")
        assertHTTPError("upstream a {}", "no servers are inside upstream in @:2")
        assertHTTPError("upstream a;", "directive \"upstream\" has no opening \"{\" in @:2")
    }

    func testResolverErrorsAndEmptyAnswersAreNotFound() {
        struct Failing: HostResolver {
            struct Failure: Error {}
            func resolve(host: String, port: Int) throws -> [ResolvedAddress] { throw Failure() }
        }
        do {
            _ = try ConfigLoader.load(
                text: "http {\nupstream u { server a.example; }\n}", file: mainFile, prefix: directory.path, resolver: Failing())
            XCTFail("expected an error")
        } catch {
            XCTAssertEqual(error.description, "host not found in upstream \"a.example\" in \(mainFile):2")
        }
    }

    func testProxyPassToExplicitAndImplicitUpstreams() throws {
        let http = try XCTUnwrap(loadHTTP("""
            upstream backend { server 10.0.0.1; }
            server {
            location /a/ { proxy_pass http://backend; }
            location /b/ { proxy_pass http://BACKEND/x/; }
            location /c/ { proxy_pass http://127.0.0.1:8080/remote/; }
            location /d/ { proxy_pass http://127.0.0.1:8080; }
            location /e/ { proxy_pass http://app1.example.com; }
            location /f/ { proxy_pass http://[::1]:81; }
            location /g/ { proxy_pass http://backend.local:80?x=1; }
            }
            """))
        XCTAssertEqual(http.upstreams.map(\.name), ["backend", "127.0.0.1:8080", "app1.example.com:80", "[::1]:81", "backend.local:80"])
        let passes = http.servers[0].locations.compactMap(\.proxyPass)
        XCTAssertEqual(passes, [
            ProxyPass(upstreamName: "backend", proxyHost: "backend", uri: nil),
            ProxyPass(upstreamName: "backend", proxyHost: "BACKEND", uri: "/x/"),
            ProxyPass(upstreamName: "127.0.0.1:8080", proxyHost: "127.0.0.1:8080", uri: "/remote/"),
            ProxyPass(upstreamName: "127.0.0.1:8080", proxyHost: "127.0.0.1:8080", uri: nil),
            ProxyPass(upstreamName: "app1.example.com:80", proxyHost: "app1.example.com", uri: nil),
            ProxyPass(upstreamName: "[::1]:81", proxyHost: "[::1]:81", uri: nil),
            ProxyPass(upstreamName: "backend.local:80", proxyHost: "backend.local", uri: "?x=1"),
        ])
        let implicit = try XCTUnwrap(http.upstream(named: "127.0.0.1:8080"))
        XCTAssertTrue(implicit.isImplicit)
        XCTAssertEqual(implicit.method, .roundRobin)
        XCTAssertEqual(implicit.keepalive, 0, "nginx keeps no keep-alive cache for implicit upstreams")
        XCTAssertEqual(implicit.servers, [
            UpstreamServer(name: "127.0.0.1:8080", addresses: [ResolvedAddress(ip: "127.0.0.1", port: 8080)],
                           source: SourceLocation(file: mainFile, line: 6)),
        ])
        XCTAssertEqual(http.upstream(named: "backend.local:80")?.servers.first?.addresses.count, 3)
    }

    func testProxyPassMayNameAnUpstreamDefinedLater() throws {
        let http = try XCTUnwrap(loadHTTP("""
            server { location / { proxy_pass http://later; } }
            upstream later { server 10.0.0.9:81; }
            """))
        XCTAssertEqual(http.upstreams.map(\.name), ["later"])
        XCTAssertEqual(http.servers[0].locations[0].proxyPass?.upstreamName, "later")
        XCTAssertFalse(http.upstreams[0].isImplicit)
    }

    func testProxyPassErrors() {
        func location(_ proxyPass: String) -> String { "server {\nlocation / {\n\(proxyPass)\n}\n}" }
        assertHTTPError(location("proxy_pass https://10.0.0.1;"),
                        "https protocol in \"proxy_pass\" is not supported (maitred talks plain HTTP to upstreams) in @:4")
        assertHTTPError(location("proxy_pass ftp://10.0.0.1;"), "invalid URL prefix in @:4")
        assertHTTPError(location("proxy_pass 10.0.0.1;"), "invalid URL prefix in @:4")
        assertHTTPError(location("proxy_pass http://$host;"), "variables in \"proxy_pass\" are not supported in @:4")
        assertHTTPError(location("proxy_pass http://unix:/tmp/s.sock;"),
                        "unix domain sockets are not supported in upstream \"unix:/tmp/s.sock\" in @:4")
        assertHTTPError(location("proxy_pass http://;"), "no host in upstream \"\" in @:4")
        assertHTTPError(location("proxy_pass http://10.0.0.1:99999;"), "invalid port in upstream \"10.0.0.1:99999\" in @:4")
        assertHTTPError(location("proxy_pass http://10.0.0.1;\nproxy_pass http://10.0.0.2;"), "\"proxy_pass\" directive is duplicate in @:5")
        assertHTTPError(location("proxy_pass http://nowhere.example:8080;"), "host not found in upstream \"nowhere.example\" in @:4")
        assertHTTPError("server {\nlocation ~ \\.php$ {\nproxy_pass http://10.0.0.1/x;\n}\n}",
                        "\"proxy_pass\" cannot have URI part in location given by regular expression, or inside named location, "
                            + "or inside \"if\" statement, or inside \"limit_except\" block in @:4")
        assertHTTPError("upstream b { server 10.0.0.1; }\n" + location("proxy_pass http://b:8080;"),
                        "upstream \"b\" may not have port 8080 in @:5")
        assertHTTPError(location("proxy_pass http://b:8080;") + "\nupstream b { server 10.0.0.1; }",
                        "upstream \"b\" may not have port 8080 in @:4")
        assertHTTPError("proxy_pass http://10.0.0.1;", "\"proxy_pass\" directive is not allowed here in @:2")
        assertHTTPError("server {\nproxy_pass http://10.0.0.1;\n}", "\"proxy_pass\" directive is not allowed here in @:3")
    }
}
