import XCTest
@testable import MaitreConfig

final class SettingsTests: ConfigTestCase {
    func testDefaultsFollowNginx1297() throws {
        let settings = try XCTUnwrap(loadHTTP("server { location / { } }")?.servers.first?.locations.first?.settings)
        XCTAssertEqual(settings.proxyHTTPVersion, .http1_1)
        XCTAssertEqual(settings.proxySetHeaders, ProxySettings.defaultProxyHeaders)
        XCTAssertEqual(settings.proxyConnectTimeout, .seconds(60))
        XCTAssertEqual(settings.proxySendTimeout, .seconds(60))
        XCTAssertEqual(settings.proxyReadTimeout, .seconds(60))
        XCTAssertEqual(settings.proxyBufferSize, 4096)
        XCTAssertEqual(settings.proxyBuffers, BufferCount(count: 8, size: 4096))
        XCTAssertEqual(settings.proxyBusyBuffersSize, 8192)
        XCTAssertEqual(settings.proxyNextUpstream, [.error, .timeout])
        XCTAssertEqual(settings.proxyNextUpstreamTries, 0)
        XCTAssertEqual(settings.proxyNextUpstreamTimeout, .zero)
        XCTAssertEqual(settings.clientMaxBodySize, 1 << 20)
        XCTAssertEqual(settings.clientHeaderTimeout, .seconds(60))
        XCTAssertEqual(settings.clientBodyTimeout, .seconds(60))
        XCTAssertEqual(settings.keepaliveTimeout, .seconds(75))
        XCTAssertNil(settings.keepaliveHeaderTimeout)
        XCTAssertEqual(settings.keepaliveRequests, 1000)
    }

    func testEveryInheritableDirective() throws {
        let settings = try XCTUnwrap(loadHTTP("""
            proxy_http_version 1.0;
            proxy_connect_timeout 1s;
            proxy_send_timeout 2s;
            proxy_read_timeout 3m;
            proxy_buffer_size 8k;
            proxy_buffers 16 8k;
            proxy_busy_buffers_size 32k;
            proxy_next_upstream error http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 10s;
            client_max_body_size 10m;
            client_header_timeout 7s;
            client_body_timeout 8s;
            keepalive_timeout 30s 25;
            keepalive_requests 50;
            server { }
            """)?.servers.first?.settings)
        XCTAssertEqual(settings.proxyHTTPVersion, .http1_0)
        XCTAssertEqual(settings.proxyConnectTimeout, .seconds(1))
        XCTAssertEqual(settings.proxySendTimeout, .seconds(2))
        XCTAssertEqual(settings.proxyReadTimeout, .seconds(180))
        XCTAssertEqual(settings.proxyBufferSize, 8192)
        XCTAssertEqual(settings.proxyBuffers, BufferCount(count: 16, size: 8192))
        XCTAssertEqual(settings.proxyBusyBuffersSize, 32768)
        XCTAssertEqual(settings.proxyNextUpstream, [.error, .http502, .http503, .nonIdempotent])
        XCTAssertEqual(settings.proxyNextUpstreamTries, 3)
        XCTAssertEqual(settings.proxyNextUpstreamTimeout, .seconds(10))
        XCTAssertEqual(settings.clientMaxBodySize, 10 << 20)
        XCTAssertEqual(settings.clientHeaderTimeout, .seconds(7))
        XCTAssertEqual(settings.clientBodyTimeout, .seconds(8))
        XCTAssertEqual(settings.keepaliveTimeout, .seconds(30))
        XCTAssertEqual(settings.keepaliveHeaderTimeout, .seconds(25))
        XCTAssertEqual(settings.keepaliveRequests, 50)
    }

    func testMergeDownThroughServerAndLocations() throws {
        let server = try XCTUnwrap(loadHTTP("""
            proxy_read_timeout 10s;
            keepalive_timeout 20s 15s;
            server {
                proxy_connect_timeout 3s;
                location /a/ {
                    proxy_read_timeout 1s;
                    keepalive_timeout 5s;
                    location /a/b/ { proxy_send_timeout 9s; }
                }
                location /c/ { }
            }
            """)?.servers.first)
        XCTAssertEqual(server.settings.proxyReadTimeout, .seconds(10))
        XCTAssertEqual(server.settings.proxyConnectTimeout, .seconds(3))
        let a = server.locations[0]
        XCTAssertEqual(a.settings.proxyReadTimeout, .seconds(1))
        XCTAssertEqual(a.settings.proxyConnectTimeout, .seconds(3))
        XCTAssertEqual(a.settings.keepaliveTimeout, .seconds(5))
        XCTAssertEqual(a.settings.keepaliveHeaderTimeout, .seconds(15), "the header timeout merges on its own, as in nginx")
        let ab = a.children[0]
        XCTAssertEqual(ab.settings.proxyReadTimeout, .seconds(1))
        XCTAssertEqual(ab.settings.proxySendTimeout, .seconds(9))
        XCTAssertEqual(server.locations[1].settings.proxyReadTimeout, .seconds(10))
    }

    func testProxySetHeaderListsInheritWhole() throws {
        let server = try XCTUnwrap(loadHTTP("""
            proxy_set_header X-A a;
            proxy_set_header X-B b;
            server {
                location /own/ {
                    proxy_set_header X-C "";
                    proxy_set_header host "$host:$server_port";
                }
                location /inherits/ { }
                location /connection/ { proxy_set_header Connection keep-alive; }
            }
            """)?.servers.first)
        let lit = { (s: String) in VariableTemplate(parts: [.literal(s)]) }
        XCTAssertEqual(server.locations[0].settings.proxySetHeaders, [
            HeaderSetting(name: "X-C", value: VariableTemplate(parts: [])),
            HeaderSetting(name: "host", value: VariableTemplate(parts: [.variable(.host), .literal(":"), .variable(.serverPort)])),
            HeaderSetting(name: "Connection", value: VariableTemplate(parts: [])),
        ], "own list only; the default Host is overridden case-insensitively")
        XCTAssertEqual(server.locations[1].settings.proxySetHeaders, [
            HeaderSetting(name: "X-A", value: lit("a")), HeaderSetting(name: "X-B", value: lit("b")),
        ] + ProxySettings.defaultProxyHeaders)
        XCTAssertEqual(server.locations[2].settings.proxySetHeaders.map(\.name), ["Connection", "Host"])
        XCTAssertEqual(server.locations[2].settings.proxySetHeaders[0].value, lit("keep-alive"))
    }

    func testNextUpstreamOffAndWarnings() throws {
        let configuration = try XCTUnwrap(load("""
            http {
            proxy_next_upstream error timeout;
            server {
            proxy_next_upstream error off;
            location / { proxy_next_upstream timeout timeout; }
            location /x { proxy_next_upstream http_404 updating; }
            }
            server { }
            }
            """))
        let servers = try XCTUnwrap(configuration.http?.servers)
        XCTAssertEqual(servers[0].settings.proxyNextUpstream, [])
        XCTAssertEqual(servers[0].locations[0].settings.proxyNextUpstream, [.timeout])
        XCTAssertEqual(servers[0].locations[1].settings.proxyNextUpstream, [.http404])
        XCTAssertEqual(servers[1].settings.proxyNextUpstream, [.error, .timeout])
        XCTAssertEqual(configuration.warnings, [
            ConfigError("duplicate value \"timeout\"", at: SourceLocation(file: mainFile, line: 5)),
            // Both servers have the implicit name "" on *:80; nginx warns about that too.
            ConfigError("conflicting server name \"\" on 0.0.0.0:80, ignored", at: nil),
        ])
    }

    /// large_client_header_buffers, underscores_in_headers, ignore_invalid_headers: nginx's defaults, values, errors.
    func testRequestHeadDirectives() throws {
        let defaults = try XCTUnwrap(loadHTTP("server { }")?.servers.first?.settings)
        XCTAssertEqual(defaults.largeClientHeaderBuffers, BufferCount(count: 4, size: 8192))
        XCTAssertFalse(defaults.underscoresInHeaders)
        XCTAssertTrue(defaults.ignoreInvalidHeaders)
        let set = try XCTUnwrap(loadHTTP("""
            large_client_header_buffers 8 16k;
            underscores_in_headers on;
            server { ignore_invalid_headers off; }
            """)?.servers.first?.settings)
        XCTAssertEqual(set.largeClientHeaderBuffers, BufferCount(count: 8, size: 16384))
        XCTAssertTrue(set.underscoresInHeaders)
        XCTAssertFalse(set.ignoreInvalidHeaders)
        assertHTTPError("large_client_header_buffers 0 8k;", "\"large_client_header_buffers\" directive invalid value in @:2")
        assertHTTPError("large_client_header_buffers 4 256;\nserver { }",
                        "the \"large_client_header_buffers\" size must be equal to or greater than \"connection_pool_size\" in @:4")
        assertHTTPError("underscores_in_headers maybe;",
                        "invalid value \"maybe\" in \"underscores_in_headers\" directive, it must be \"on\" or \"off\" in @:2")
        assertHTTPError("server { location / { ignore_invalid_headers off; } }",
                        "\"ignore_invalid_headers\" directive is not allowed here in @:2")
        assertHTTPError("underscores_in_headers on;\nunderscores_in_headers off;",
                        "\"underscores_in_headers\" directive is duplicate in @:3")
    }

    func testBufferChecksUseNginxMessagesAtTheEndOfHTTP() {
        // proxy_buffer_size 16k with the default 8 4k buffers: busy (2 × 16k) exceeds 7 × 4k.
        assertHTTPError("proxy_buffer_size 16k;\nserver { }",
                        "\"proxy_busy_buffers_size\" must be less than the size of all \"proxy_buffers\" minus one buffer in @:4")
        assertHTTPError("server {\nlocation / { proxy_busy_buffers_size 2k; }\n}",
                        "\"proxy_busy_buffers_size\" must be equal to or greater than the maximum of the value of "
                            + "\"proxy_buffer_size\" and one of the \"proxy_buffers\" in @:5")
        assertHTTPError("server { proxy_buffers 1 4k; }", "there must be at least 2 \"proxy_buffers\" in @:3")
        XCTAssertEqual(loadHTTP("proxy_buffer_size 16k;\nproxy_buffers 8 16k;\nserver { }")?.servers.first?.settings.proxyBusyBuffersSize, 32768)
    }

    func testSlotErrors() {
        assertHTTPError("proxy_read_timeout 5x;", "\"proxy_read_timeout\" directive invalid value in @:2")
        assertHTTPError("proxy_read_timeout 1M;", "\"proxy_read_timeout\" directive invalid value in @:2")
        assertHTTPError("proxy_read_timeout 1s;\nproxy_read_timeout 2s;", "\"proxy_read_timeout\" directive is duplicate in @:3")
        assertHTTPError("proxy_buffer_size 1g;", "\"proxy_buffer_size\" directive invalid value in @:2")
        assertHTTPError("proxy_buffers 0 4k;", "\"proxy_buffers\" directive invalid value in @:2")
        assertHTTPError("proxy_buffers 8 0;", "\"proxy_buffers\" directive invalid value in @:2")
        assertHTTPError("proxy_buffers 8 4k;\nproxy_buffers 8 4k;", "\"proxy_buffers\" directive is duplicate in @:3")
        assertHTTPError("proxy_buffers 8;", "invalid number of arguments in \"proxy_buffers\" directive in @:2")
        assertHTTPError("client_max_body_size 1t;", "\"client_max_body_size\" directive invalid value in @:2")
        assertHTTPError("proxy_next_upstream_tries many;", "\"proxy_next_upstream_tries\" directive invalid number in @:2")
        assertHTTPError("keepalive_requests -1;", "\"keepalive_requests\" directive invalid number in @:2")
        assertHTTPError("proxy_next_upstream http_418;", "invalid value \"http_418\" in @:2")
        assertHTTPError("proxy_http_version 2.0;", "invalid value \"2.0\" in @:2")
        assertHTTPError("proxy_http_version 1.1;\nproxy_http_version 1.0;", "\"proxy_http_version\" directive is duplicate in @:3")
        assertHTTPError("keepalive_timeout 5s 500ms;", "\"keepalive_timeout\" directive invalid value in @:2")
        assertHTTPError("keepalive_timeout 5s;\nkeepalive_timeout 6s;", "\"keepalive_timeout\" directive is duplicate in @:3")
        assertHTTPError("keepalive_timeout 1 2 3;", "invalid number of arguments in \"keepalive_timeout\" directive in @:2")
        assertHTTPError("server {\nlocation / { client_header_timeout 5s; }\n}", "\"client_header_timeout\" directive is not allowed here in @:3")
        assertHTTPError("proxy_set_header X-A;", "invalid number of arguments in \"proxy_set_header\" directive in @:2")
        assertHTTPError("proxy_pas http://x;", "unknown directive \"proxy_pas\" in @:2")
    }

    func testVariables() throws {
        let value = { (text: String) throws(ConfigError) -> VariableTemplate in
            try VariableTemplate.parse(text, at: SourceLocation(file: "/f", line: 1))
        }
        XCTAssertEqual(try value("plain"), VariableTemplate(parts: [.literal("plain")]))
        XCTAssertEqual(try value(""), VariableTemplate(parts: []))
        XCTAssertEqual(try value("${host}x$REMOTE_ADDR-$http_x_real_ip"), VariableTemplate(parts: [
            .variable(.host), .literal("x"), .variable(.remoteAddr), .literal("-"), .variable(.httpHeader("x_real_ip")),
        ]))
        let all = "$host $remote_addr $remote_port $server_addr $server_port $server_name $scheme $request_method "
            + "$request_uri $uri $args $proxy_host $proxy_add_x_forwarded_for $http_user_agent"
        XCTAssertEqual(try value(all).parts.count, 27)

        func message(_ text: String) -> String? {
            do { _ = try value(text); return nil } catch { return error.message }
        }
        XCTAssertEqual(message("$foo"), "unknown \"foo\" variable")
        XCTAssertEqual(message("a$"), "invalid variable name")
        XCTAssertEqual(message("$-"), "invalid variable name")
        XCTAssertEqual(message("${host"), "the closing bracket in \"host\" variable is missing")
        XCTAssertEqual(message("$1"), "regex captures are not supported (\"$1\")")
        assertHTTPError("proxy_set_header X-Sent $sent_httpx;", "unknown \"sent_httpx\" variable in @:2")
    }
}
