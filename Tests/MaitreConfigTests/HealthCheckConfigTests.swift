import XCTest

@testable import MaitreConfig

/// The upstream check module's directives: defaults, units, and the module's error messages.
final class HealthCheckConfigTests: ConfigTestCase {
    private func upstream(_ body: String) -> Upstream? {
        loadHTTP("upstream u {\nserver 10.0.0.1;\n\(body)\n}\nserver { location / { proxy_pass http://u; } }")?
            .upstream(named: "u")
    }

    func testDefaultsOfTheModule() throws {
        let check = try XCTUnwrap(upstream("check rise=3;")?.healthCheck)
        XCTAssertEqual(check.intervalMilliseconds, 30_000)
        XCTAssertEqual(check.rise, 3)
        XCTAssertEqual(check.fall, 5)
        XCTAssertEqual(check.timeoutMilliseconds, 1_000)
        XCTAssertTrue(check.defaultDown)
        XCTAssertEqual(check.kind, .tcp)
        XCTAssertEqual(check.httpSend, Array("GET / HTTP/1.0\r\n\r\n".utf8))
        XCTAssertEqual(check.expectAlive, [2, 3])
        XCTAssertNil(upstream("")?.healthCheck, "no check without `check`")
    }

    func testEveryParameter() throws {
        let check = try XCTUnwrap(upstream("""
            check interval=500 rise=1 fall=2 timeout=250 default_down=FALSE type=http port=8081;
            check_http_expect_alive HTTP_4XX http_5xx;
            """)?.healthCheck)
        XCTAssertEqual(check.intervalMilliseconds, 500)
        XCTAssertEqual(check.rise, 1)
        XCTAssertEqual(check.fall, 2)
        XCTAssertEqual(check.timeoutMilliseconds, 250)
        XCTAssertFalse(check.defaultDown, "default_down is case-insensitive")
        XCTAssertEqual(check.port, 8081)
        XCTAssertEqual(check.expectAlive, [4, 5], "check_http_expect_alive replaces the default")
        XCTAssertTrue(check.isAlive(status: 503))
        XCTAssertFalse(check.isAlive(status: 200))
        XCTAssertFalse(check.isAlive(status: 999))
    }

    /// A second `check` starts again from the defaults and keeps only the type, as the module's parser does.
    func testSecondCheckStartsFromTheDefaultsButTheType() throws {
        let check = try XCTUnwrap(upstream("check type=http rise=4;\ncheck interval=100;")?.healthCheck)
        XCTAssertEqual(check.kind, .http)
        XCTAssertEqual(check.rise, 2, "rise= of the first check is not kept")
        XCTAssertEqual(check.intervalMilliseconds, 100)
    }

    /// `check_shm_size` (http): accepted, its size checked.
    func testCheckShmSize() {
        XCTAssertNotNil(loadHTTP("check_shm_size 10M;"))
        assertHTTPError("check_shm_size lots;", "invalid value \"lots\" in @:2")
    }

    func testTheModulesErrors() {
        let body = "upstream u {\nserver 10.0.0.1;\n"
        func assertCheckError(_ directive: String, _ message: String, line: UInt = #line) {
            assertHTTPError(body + directive + "\n}", message + " in @:4", line: line)
        }
        assertCheckError("check interval=3s;", "invalid parameter \"interval=3s\"")  // bare milliseconds only
        assertCheckError("check rise=0;", "invalid parameter \"rise=0\"")
        assertCheckError("check fall=-1;", "invalid parameter \"fall=-1\"")
        assertCheckError("check timeout=;", "invalid parameter \"timeout=\"")
        assertCheckError("check port=70000;", "invalid parameter \"port=70000\"")
        assertCheckError("check bogus=1;", "invalid parameter \"bogus=1\"")
        assertCheckError("check type=HTTP;", "invalid parameter \"type=HTTP\"")
        assertCheckError("check default_down=yes;",
                         "invalid value \"default_down=yes\", it must be \"true\" or \"false\"")
        assertCheckError("check type=ssl_hello;", "check type \"ssl_hello\" is not supported")
        assertCheckError("check_http_expect_alive http_6xx;", "invalid value \"http_6xx\"")
        assertCheckError("check_keepalive_requests 0;", "\"check_keepalive_requests\" directive invalid value")
        assertCheckError("check_keepalive_requests 5;",
                         "\"check_keepalive_requests\" above 1 is not supported: maitred opens a connection per check")
        assertCheckError("check_http_send \"GET /\";", "invalid check_http_send should set [check] first")
        assertHTTPError(body + "check type=tcp;\ncheck_http_send \"GET /\";\n}",
                        "invalid check_http_send for type \"tcp\" in @:5")
        assertHTTPError(body + "check;\n}", "invalid number of arguments in \"check\" directive in @:4")
    }

    func testCheckStatusFormats() throws {
        let server = try XCTUnwrap(loadHTTP("""
            server {
            location = /a { check_status; }
            location = /b { check_status csv; }
            location = /c { proxy_pass http://10.0.0.1; check_status json; }
            }
            """)?.servers.first)
        let formats = server.locations.map { location -> CheckStatusFormat? in
            if case .checkStatus(let format)? = location.handler { return format }
            return nil
        }
        XCTAssertEqual(formats, [.html, .csv, .json], "html by default; the later content handler wins")
        assertHTTPError("server {\nlocation = /s { check_status xml; }\n}", "invalid check format \"xml\" in @:3")
    }

    /// `zone` is accepted (the registry is process-wide already), with nginx's size checks; `max_conns=` is parsed.
    func testZoneAndMaxConns() throws {
        let pool = try XCTUnwrap(upstream("zone backend 64k;")?.servers.first)
        XCTAssertEqual(pool.maxConns, 0)
        let limited = try XCTUnwrap(loadHTTP("upstream u { server 10.0.0.1 max_conns=7; zone u; }\n"
                                             + "server { location / { proxy_pass http://u; } }")?.upstream(named: "u"))
        XCTAssertEqual(limited.servers.first?.maxConns, 7)
        let body = "upstream u {\nserver 10.0.0.1;\n"
        assertHTTPError(body + "zone u 4k;\n}", "zone \"u\" is too small in @:4")
        assertHTTPError(body + "zone u lots;\n}", "invalid zone size \"lots\" in @:4")
        assertHTTPError("upstream u {\nserver 10.0.0.1 max_conns=x;\n}", "invalid parameter \"max_conns=x\" in @:3")
    }
}
