import XCTest
@testable import MaitreConfig

/// The configuration snippets of the load-balancing article (seed 000_84d69cf80770a9bc), verbatim. Bare `upstream`
/// snippets are wrapped in `http { }` with a server using them; host names go through the fake resolver.
final class ArticleSnippetTests: ConfigTestCase {
    private func loadUpstreamSnippet(_ snippet: String, named name: String = "backend") -> Upstream? {
        let http = loadHTTP(snippet + "\nserver { location / { proxy_pass http://\(name); } }")
        return http?.upstream(named: name)
    }

    func testRoundRobin() throws {
        let upstream = try XCTUnwrap(loadUpstreamSnippet("""
            upstream backend {
            server server1.example.com;
            server server2.example.com;
            server server3.example.com;
            }
            """))
        XCTAssertEqual(upstream.method, .roundRobin)
        XCTAssertEqual(upstream.servers.map(\.name), ["server1.example.com", "server2.example.com", "server3.example.com"])
        XCTAssertEqual(upstream.servers.map(\.addresses), [
            [ResolvedAddress(ip: "127.0.0.1", port: 80)], [ResolvedAddress(ip: "127.0.0.2", port: 80)],
            [ResolvedAddress(ip: "127.0.0.3", port: 80)],
        ])
        XCTAssertEqual(upstream.keepalive, 32)
        XCTAssertFalse(upstream.isImplicit)
    }

    func testLeastConnections() throws {
        let upstream = try XCTUnwrap(loadUpstreamSnippet("""
            upstream backend {
            least_conn;
            server server1.example.com;
            server server2.example.com;
            }
            """))
        XCTAssertEqual(upstream.method, .leastConn)
        XCTAssertEqual(upstream.servers.count, 2)
    }

    func testIPHash() throws {
        let upstream = try XCTUnwrap(loadUpstreamSnippet("""
            upstream backend {
            ip_hash;
            server server1.example.com;
            server server2.example.com;
            }
            """))
        XCTAssertEqual(upstream.method, .ipHash)
    }

    func testWeights() throws {
        let upstream = try XCTUnwrap(loadUpstreamSnippet("""
            upstream backend {
            server server1.example.com weight=3;
            server server2.example.com weight=2;
            server server3.example.com weight=1;
            }
            """))
        XCTAssertEqual(upstream.servers.map(\.weight), [3, 2, 1])
    }

    func testL7Routing() throws {
        let http = try XCTUnwrap(load("""
            http {
            upstream api_servers {
            server api1.example.com;
            server api2.example.com;
            }
            upstream web_servers {
            server web1.example.com;
            server web2.example.com;
            }
            server {
            location /api/ {
            proxy_pass http://api_servers;
            }
            location / {
            proxy_pass http://web_servers;
            }
            }
            }
            """)?.http)
        XCTAssertEqual(http.upstreams.map(\.name), ["api_servers", "web_servers"])
        let server = try XCTUnwrap(http.servers.first)
        XCTAssertEqual(server.listens.map(\.endpoint), [ListenEndpoint(host: "0.0.0.0", port: 80)])
        XCTAssertEqual(server.locations.map(\.proxyPass?.upstreamName), ["api_servers", "web_servers"])
        XCTAssertEqual(server.locations[0].proxyPass?.uri, nil)
    }

    func testPassiveHealthCheck() throws {
        let upstream = try XCTUnwrap(loadUpstreamSnippet("""
            upstream backend {
            server server1.example.com max_fails=3 fail_timeout=30s;
            server server2.example.com max_fails=3 fail_timeout=30s;
            }
            """))
        XCTAssertEqual(upstream.servers.map(\.maxFails), [3, 3])
        XCTAssertEqual(upstream.servers.map(\.failTimeout), [.seconds(30), .seconds(30)])
    }

    /// The article's active check, as written.
    func testActiveHealthCheck() throws {
        let upstream = try XCTUnwrap(loadUpstreamSnippet("""
            upstream backend {
            server server1.example.com;
            server server2.example.com;
            check interval=3000 rise=2 fall=5 timeout=1000 type=http;
            check_http_send "HEAD / HTTP/1.0\\r\\n\\r\\n";
            check_http_expect_alive http_2xx http_3xx;
            }
            """))
        let check = try XCTUnwrap(upstream.healthCheck)
        XCTAssertEqual(check.intervalMilliseconds, 3000)
        XCTAssertEqual(check.rise, 2)
        XCTAssertEqual(check.fall, 5)
        XCTAssertEqual(check.timeoutMilliseconds, 1000)
        XCTAssertEqual(check.kind, .http)
        XCTAssertTrue(check.defaultDown)
        XCTAssertEqual(check.httpSend, Array("HEAD / HTTP/1.0\r\n\r\n".utf8), "the escapes are the line ends")
        XCTAssertEqual(check.expectAlive, [2, 3])
    }

    func testFullExample() throws {
        let http = try XCTUnwrap(load("""
            http {
            upstream app_servers {
            least_conn;
            server app1.example.com:8080 weight=3 max_fails=3 fail_timeout=30s;
            server app2.example.com:8080 weight=2 max_fails=3 fail_timeout=30s;
            server app3.example.com:8080 weight=1 max_fails=3 fail_timeout=30s;
            keepalive 32;
            }
            server {
            listen 80;
            server_name example.com;
            location / {
            proxy_pass http://app_servers;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 5s;
            proxy_send_timeout 60s;
            proxy_read_timeout 60s;
            }
            }
            }
            """)?.http)
        let upstream = try XCTUnwrap(http.upstream(named: "app_servers"))
        XCTAssertEqual(upstream.method, .leastConn)
        XCTAssertEqual(upstream.keepalive, 32)
        XCTAssertFalse(upstream.keepaliveIsLocal, "an explicit keepalive without `local` shares connections")
        XCTAssertEqual(upstream.servers.map(\.addresses.first), [
            ResolvedAddress(ip: "127.0.3.1", port: 8080), ResolvedAddress(ip: "127.0.3.2", port: 8080),
            ResolvedAddress(ip: "127.0.3.3", port: 8080),
        ])
        let server = try XCTUnwrap(http.servers.first)
        XCTAssertEqual(server.serverNames, [.exact("example.com")])
        let settings = server.locations[0].settings
        XCTAssertEqual(settings.proxyHTTPVersion, .http1_1)
        XCTAssertEqual(settings.proxySetHeaders.map(\.name), ["Connection", "Host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto"])
        XCTAssertEqual(settings.proxySetHeaders[1].value, VariableTemplate(parts: [.variable(.host)]))
        XCTAssertEqual(settings.proxySetHeaders[3].value, VariableTemplate(parts: [.variable(.proxyAddXForwardedFor)]))
        XCTAssertEqual(settings.proxyConnectTimeout, .seconds(5))
        XCTAssertEqual(settings.proxyReadTimeout, .seconds(60))
    }

    func testStickySessionsAndNamedSnippets() throws {
        let http = try XCTUnwrap(load("""
            http {
            # API servers: Least Connections
            upstream api {
            least_conn;
            server api1:8080;
            server api2:8080;
            }
            # Static files: Round Robin
            upstream static {
            server static1:80;
            server static2:80;
            }
            # Session required: IP Hash
            upstream session {
            ip_hash;
            server session1:3000;
            server session2:3000;
            }
            upstream api_backend {
            least_conn;
            server api1:8080 weight=3;
            server api2:8080 weight=2;
            server api3:8080 weight=1;
            }
            upstream web_backend {
            ip_hash;
            server web1:3000;
            server web2:3000;
            }
            upstream static_backend {
            server static1:80;
            server static2:80;
            server static3:80;
            }
            # Bad: Only using IP Hash
            upstream backend {
            ip_hash;
            server server1;
            server server2;
            }
            server {
            location /api { proxy_pass http://api; }
            location /static { proxy_pass http://static; }
            location /session { proxy_pass http://session; }
            }
            }
            """)?.http)
        XCTAssertEqual(http.upstreams.map(\.name), [
            "api", "static", "session", "api_backend", "web_backend", "static_backend", "backend",
        ])
        XCTAssertEqual(http.upstream(named: "session")?.servers.first?.addresses, [ResolvedAddress(ip: "127.0.6.1", port: 3000)])
        XCTAssertEqual(http.upstream(named: "api_backend")?.servers.map(\.weight), [3, 2, 1])
    }

    func testStartSimpleThenOptimize() throws {
        // The article shows both versions of `backend`; each loads on its own.
        XCTAssertEqual(loadUpstreamSnippet("upstream backend {\nserver server1;\nserver server2;\n}")?.servers.count, 2)
        let optimized = try XCTUnwrap(loadUpstreamSnippet(
            "upstream backend {\nleast_conn;\nserver server1 weight=3;\nserver server2 weight=2;\n}"))
        XCTAssertEqual(optimized.method, .leastConn)
        XCTAssertEqual(optimized.servers.map(\.weight), [3, 2])
    }

    func testTimeoutAndBufferSnippets() throws {
        let http = try XCTUnwrap(loadHTTP("""
            proxy_connect_timeout 5s; # Connection timeout
            proxy_send_timeout 60s; # Send timeout
            proxy_read_timeout 60s; # Read timeout
            proxy_buffer_size 4k;
            proxy_buffers 8 4k;
            proxy_busy_buffers_size 8k;
            server {
            location /api/ {
            # API: Short timeout
            proxy_read_timeout 30s;
            proxy_pass http://127.0.0.1:8080;
            }
            location /upload/ {
            # File upload: Long timeout
            proxy_read_timeout 300s;
            proxy_pass http://127.0.0.1:8080;
            }
            }
            """))
        let server = try XCTUnwrap(http.servers.first)
        XCTAssertEqual(server.settings.proxyConnectTimeout, .seconds(5))
        XCTAssertEqual(server.settings.proxyBufferSize, 4096)
        XCTAssertEqual(server.settings.proxyBuffers, BufferCount(count: 8, size: 4096))
        XCTAssertEqual(server.settings.proxyBusyBuffersSize, 8192)
        XCTAssertEqual(server.locations.map(\.settings.proxyReadTimeout), [.seconds(30), .seconds(300)])
        XCTAssertEqual(server.locations.map(\.settings.proxyConnectTimeout), [.seconds(5), .seconds(5)])
    }

    /// The article's short form: the module's defaults fill in the rest (type tcp, default_down true).
    func testCheckSnippetAlone() throws {
        let upstream = try XCTUnwrap(loadUpstreamSnippet("""
            upstream backend {
            server server1;
            # Appropriate setting
            check interval=3000 rise=2 fall=5 timeout=1000;
            }
            """))
        let check = try XCTUnwrap(upstream.healthCheck)
        XCTAssertEqual(check.kind, .tcp)
        XCTAssertTrue(check.defaultDown)
        XCTAssertEqual(check.port, 0)
    }

    /// The article's logging block, as written.
    func testLoggingSnippet() throws {
        let http = try XCTUnwrap(loadHTTP("""
            log_format upstreamlog '$remote_addr - $remote_user [$time_local] '
            '"$request" $status $body_bytes_sent '
            '"$http_referer" "$http_user_agent" '
            'upstream: $upstream_addr '
            'upstream_response_time: $upstream_response_time '
            'request_time: $request_time';
            access_log /var/log/nginx/access.log upstreamlog;
            server { listen 8080; location / { return 200; } }
            """))
        let log = try XCTUnwrap(http.servers.first?.settings.accessLogs.first)
        XCTAssertEqual(log.path, "/var/log/nginx/access.log")
        XCTAssertEqual(log.format.name, "upstreamlog")
        XCTAssertEqual(log.format.template.parts.filter {
            if case .variable = $0 { return true } else { return false }
        }.count, 11)
    }
}
