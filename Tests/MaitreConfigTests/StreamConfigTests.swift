import XCTest

@testable import MaitreConfig

/// `stream { }`: nginx's stream module syntax, defaults, namespaces and messages.
final class StreamConfigTests: ConfigTestCase {
    func testServersUpstreamsAndDefaults() throws {
        let configuration = load("""
            stream {
                upstream backend { least_conn; server 127.0.0.1:9001 weight=2 max_fails=3; server 127.0.0.1:9002 backup; }
                server { listen 12345; proxy_pass backend; }
                server { listen 127.0.0.1:53 udp; proxy_pass 127.0.0.1:5353; proxy_responses 1; proxy_timeout 20s; }
            }
            """)
        let stream = try XCTUnwrap(configuration?.stream)
        XCTAssertNil(configuration?.http)
        XCTAssertEqual(stream.servers.count, 2)
        let tcp = stream.servers[0]
        XCTAssertEqual(tcp.listens.map(\.endpoint), [ListenEndpoint(host: "0.0.0.0", port: 12345)])
        XCTAssertEqual(tcp.upstreamName, "backend")
        // ngx_stream_proxy_merge_srv_conf's defaults.
        XCTAssertEqual(tcp.settings.connectTimeout, .seconds(60))
        XCTAssertEqual(tcp.settings.timeout, .seconds(600))
        XCTAssertEqual(tcp.settings.bufferSize, 16384)
        XCTAssertTrue(tcp.settings.nextUpstream)
        XCTAssertEqual(tcp.settings.nextUpstreamTries, 0)
        XCTAssertNil(tcp.settings.responses)
        XCTAssertFalse(tcp.settings.halfClose)
        XCTAssertEqual(tcp.settings.accessLogs, [], "the stream module logs nothing unless told")
        let udp = stream.servers[1]
        XCTAssertEqual(udp.listens.map(\.endpoint), [ListenEndpoint(host: "127.0.0.1", port: 53, udp: true)])
        XCTAssertEqual(udp.upstreamName, "127.0.0.1:5353")
        XCTAssertEqual(udp.settings.responses, 1)
        XCTAssertEqual(udp.settings.timeout, .seconds(20))
        let backend = try XCTUnwrap(stream.upstreams.first { $0.name == "backend" })
        XCTAssertEqual(backend.method, .leastConn)
        XCTAssertEqual(backend.context, .stream)
        XCTAssertEqual(backend.keepalive, 0)
        XCTAssertEqual(backend.servers.map(\.weight), [2, 1])
        XCTAssertEqual(backend.servers.map(\.backup), [false, true])
        XCTAssertTrue(stream.upstreams.contains { $0.name == "127.0.0.1:5353" && $0.isImplicit })
    }

    func testSettingsInheritFromTheStreamLevel() throws {
        let stream = try XCTUnwrap(load("""
            stream {
                proxy_connect_timeout 2s; proxy_timeout 30s; proxy_next_upstream off; proxy_half_close on;
                log_format short '$remote_addr $status';
                access_log /tmp/s.log short;
                server { listen 1; proxy_pass 127.0.0.1:2; }
                server { listen 3; proxy_pass 127.0.0.1:4; proxy_timeout 1s; access_log off; }
            }
            """)?.stream)
        XCTAssertEqual(stream.servers[0].settings.connectTimeout, .seconds(2))
        XCTAssertEqual(stream.servers[0].settings.timeout, .seconds(30))
        XCTAssertFalse(stream.servers[0].settings.nextUpstream)
        XCTAssertTrue(stream.servers[0].settings.halfClose)
        XCTAssertEqual(stream.servers[0].settings.accessLogs.map(\.path), ["/tmp/s.log"])
        XCTAssertEqual(stream.servers[1].settings.timeout, .seconds(1))
        XCTAssertEqual(stream.servers[1].settings.accessLogs, [])
    }

    func testHTTPAndStreamUpstreamsAreSeparateNamespaces() throws {
        let configuration = try XCTUnwrap(load("""
            http { upstream backend { server 127.0.0.1:80; } server { listen 8080; location / { proxy_pass http://backend; } } }
            stream { upstream backend { server 127.0.0.1:9000; } server { listen 9999; proxy_pass backend; } }
            """))
        XCTAssertEqual(configuration.http?.upstream(named: "backend")?.servers.first?.addresses.first?.port, 80)
        XCTAssertEqual(configuration.stream?.upstreams.first?.servers.first?.addresses.first?.port, 9000)
        XCTAssertEqual(configuration.stream?.upstreams.first?.context, .stream)
    }

    func testStreamVariablesAndFormats() throws {
        let stream = try XCTUnwrap(load("""
            stream {
                log_format all '$remote_addr:$remote_port $protocol $status $bytes_sent $bytes_received $session_time '
                               '$upstream_addr $upstream_connect_time $upstream_first_byte_time '
                               '$upstream_session_time $upstream_bytes_sent $upstream_bytes_received '
                               '$server_addr:$server_port $time_local $msec $connection';
                upstream h { hash $remote_addr consistent; server 127.0.0.1:1; server 127.0.0.1:2; }
                server { listen 1; proxy_pass h; access_log /tmp/a.log all; }
            }
            """)?.stream)
        XCTAssertEqual(stream.servers[0].settings.accessLogs.first?.format.variables.count, 18)
        XCTAssertEqual(stream.upstreams[0].method, .hash(key: VariableTemplate(parts: [.variable(.remoteAddr)]), consistent: true))
    }

    func testNginxMessages() {
        assertError("stream { server { listen 127.0.0.1; proxy_pass a:1; } }",
                    "no port in \"127.0.0.1\" of the \"listen\" directive in @:1")
        assertError("stream { server { listen 1 udp backlog=5; proxy_pass 127.0.0.1:1; } }",
                    "\"backlog\" parameter is incompatible with \"udp\" in @:1")
        assertError("stream { server { proxy_pass 127.0.0.1:1; } }", "no \"listen\" is defined for server in @:1")
        assertError("stream { server { listen 1; proxy_pass nowhere; } }",
                    "no port in upstream \"nowhere\" in @:1")
        assertError("stream { server { listen 1; proxy_pass 127.0.0.1:1; access_log /tmp/x; } }",
                    "log format is not specified in @:1")
        assertError("stream { log_format a '$request_uri'; }", "unknown \"request_uri\" variable in @:1")
        assertError("http { log_format a '$session_time'; }", "unknown \"session_time\" variable in @:1")
        assertError("stream { server { listen 1; proxy_pass 127.0.0.1:1; keepalive_timeout 5s; } }",
                    "\"keepalive_timeout\" directive is not allowed here in @:1")
        assertError("stream { upstream u { ip_hash; server 127.0.0.1:1; } }",
                    "\"ip_hash\" directive is not allowed here in @:1")
        assertError("stream { upstream u { server 127.0.0.1:1; } upstream u { server 127.0.0.1:2; } }",
                    "duplicate upstream \"u\" in @:1")
        assertError("stream { server { listen 1; listen 1; proxy_pass 127.0.0.1:1; } }",
                    "duplicate \"0.0.0.0:1\" address and port pair in @:1")
        assertError("stream { server { listen 1; proxy_pass 127.0.0.1:1; proxy_protocol v3; } }",
                    "invalid value \"v3\" in \"proxy_protocol\" directive, it must be \"off\", \"on\" or \"v2\" in @:1")
        assertError("stream { server { listen 1 udp proxy_protocol; proxy_pass 127.0.0.1:1; } }",
                    "\"proxy_protocol\" parameter is incompatible with \"udp\" in @:1")
        assertError("http { server { listen 1; set_real_ip_from 10.0.0.0/8; } }",
                    "\"set_real_ip_from\" needs \"real_ip_header proxy_protocol\" (maitred reads no other real_ip_header) in @:1")
        assertError("http { real_ip_header X-Forwarded-For; }",
                    "\"real_ip_header X-Forwarded-For\" is not supported yet (only proxy_protocol) in @:1")
        assertError("stream { } stream { }", "\"stream\" directive is duplicate in @:1")
        assertError("stream { server { listen 1; return a; return b; } }", "\"return\" directive is duplicate in @:1")
        let handlers = load("stream { server { listen 1; return a; proxy_pass 127.0.0.1:2; } server { listen 3; proxy_pass 127.0.0.1:4; return b; } }")?.stream?.servers
        XCTAssertEqual(handlers?[0].upstreamName, "127.0.0.1:2", "the later handler wins, as in nginx")
        XCTAssertNil(handlers?[0].returnText)
        XCTAssertNil(handlers?[1].upstreamName)
        XCTAssertEqual(handlers?[1].returnText?.constantValue, "b")
    }
}

/// `sticky` (nginx 1.29.6) and `server … route=`.
final class StickyConfigTests: ConfigTestCase {
    func testCookieAndRoute() throws {
        let http = try XCTUnwrap(loadHTTP("""
            upstream a { server 127.0.0.1:1 route=one; server 127.0.0.1:2; sticky cookie srv expires=max domain=.example.com path=/ httponly secure samesite=lax; }
            upstream b { server 127.0.0.1:3; sticky route $cookie_route $arg_route; }
            """))
        var cookie = StickyCookie(name: "srv")
        cookie.expires = .max
        cookie.domain = ".example.com"
        cookie.path = "/"
        cookie.httpOnly = true
        cookie.secure = true
        cookie.sameSite = "lax"
        XCTAssertEqual(http.upstream(named: "a")?.sticky, .cookie(cookie))
        XCTAssertEqual(http.upstream(named: "a")?.servers.map(\.route), ["one", nil])
        XCTAssertEqual(http.upstream(named: "b")?.sticky, .route([.cookie("route"), .argument("route")]))
    }

    func testNginxMessages() {
        assertHTTPError("upstream a { server 127.0.0.1:1; sticky cookie s; sticky cookie t; }",
                        "\"sticky\" directive is duplicate in @:2")
        assertHTTPError("upstream a { server 127.0.0.1:1; sticky cookie s samesite=sometimes; }",
                        "\"sticky\" directive invalid \"samesite\" parameter value in @:2")
        assertHTTPError("upstream a { server 127.0.0.1:1; sticky cookie s expires=soon; }",
                        "\"sticky\" directive invalid \"expires\" parameter value in @:2")
        assertHTTPError("upstream a { server 127.0.0.1:1; sticky cookie s color=red; }", "unknown parameter \"color=red\" in @:2")
        assertHTTPError("upstream a { server 127.0.0.1:1; sticky route route; }", "invalid variable name \"route\" in @:2")
        assertHTTPError("upstream a { server 127.0.0.1:1; sticky learn create=$upstream_cookie_s zone=z:1m; }",
                        "\"sticky\" directive \"lookup\" parameter is not specified in @:2")
        assertHTTPError("upstream a { server 127.0.0.1:1; sticky learn create=$upstream_cookie_s lookup=$cookie_s; }",
                        "\"sticky\" directive \"zone\" parameter is not specified in @:2")
        assertHTTPError("upstream a { server 127.0.0.1:1; sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:4k; }",
                        "\"sticky\" directive zone is too small in @:2")
        assertHTTPError("upstream a { server 127.0.0.1:1; sticky learn create=x lookup=$cookie_s zone=z:1m; }",
                        "\"sticky\" directive missing variable in the \"create\" parameter in @:2")
        assertHTTPError("""
            upstream a { server 127.0.0.1:1; sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m; }
            upstream b { server 127.0.0.1:2; sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m; }
            """, "sticky zone \"z\" is already used in upstream \"a\" in @:3")
        let learn = loadHTTP(
            "upstream a { server 127.0.0.1:1; sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=z:1m header; }")
        XCTAssertEqual(
            learn?.upstream(named: "a")?.sticky,
            .learn(StickyLearn(create: [.upstreamCookie("s")], lookup: [.cookie("s")], zone: "z", capacity: 8192,
                               timeout: .seconds(600), afterHeaders: true)))
        assertHTTPError("upstream a { server 127.0.0.1:1 route=; }", "route is empty in @:2")
        assertHTTPError("upstream a { server 127.0.0.1:1 route=\(String(repeating: "x", count: 33)); }",
                        "route is longer than 32 in @:2")
    }
}

/// `least_time` (nginx 1.31).
final class LeastTimeConfigTests: ConfigTestCase {
    func testModes() {
        let http = loadHTTP("""
            upstream a { least_time header; server 127.0.0.1:1; }
            upstream b { least_time last_byte inflight; server 127.0.0.1:2; server 127.0.0.1:3 backup; }
            """)
        XCTAssertEqual(http?.upstream(named: "a")?.method, .leastTime(.header, inflight: false))
        XCTAssertEqual(http?.upstream(named: "b")?.method, .leastTime(.lastByte, inflight: true))
        assertHTTPError("upstream a { least_time first_byte; server 127.0.0.1:1; }",
                        "invalid value \"first_byte\" in \"least_time\" directive, it must be \"header\" or \"last_byte\" in @:2")
        assertHTTPError("upstream a { least_time header fast; server 127.0.0.1:1; }",
                        "invalid parameter \"fast\" in @:2")
        assertHTTPError("upstream a { least_time connect; server 127.0.0.1:1; }",
                        "invalid value \"connect\" in \"least_time\" directive, it must be \"header\" or \"last_byte\" in @:2")
        let stream = load("stream { upstream s { least_time connect inflight; server 127.0.0.1:1; } "
            + "upstream f { least_time first_byte; server 127.0.0.1:2; } server { listen 1; proxy_pass s; } }")?.stream
        XCTAssertEqual(stream?.upstreams.first { $0.name == "s" }?.method, .leastTime(.connect, inflight: true))
        XCTAssertEqual(stream?.upstreams.first { $0.name == "f" }?.method, .leastTime(.header, inflight: false))
        assertError("stream { upstream s { least_time header; server 127.0.0.1:1; } }",
                    "invalid value \"header\" in \"least_time\" directive, it must be \"connect\", \"first_byte\" or \"last_byte\" in @:1")
    }
}
