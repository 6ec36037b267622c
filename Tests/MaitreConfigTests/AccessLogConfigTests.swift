import XCTest
@testable import MaitreConfig

/// `log_format` and `access_log`, with nginx's default, inheritance, parameters and messages.
final class AccessLogConfigTests: ConfigTestCase {
    private func servers(_ body: String) -> [VirtualServer] {
        loadHTTP(body)?.servers ?? []
    }

    func testDefaultIsTheCombinedFormatInLogsAccessLog() throws {
        let server = try XCTUnwrap(servers("server { location / { return 200; } }").first)
        XCTAssertEqual(server.settings.accessLogs, [AccessLog(path: directory.path + "/logs/access.log", format: .combined)])
        XCTAssertEqual(server.locations.first?.settings.accessLogs, server.settings.accessLogs)
        XCTAssertEqual(LogFormat.combined.template.description,
                       "${remote_addr} - ${remote_user} [${time_local}] \"${request}\" ${status} ${body_bytes_sent} "
                       + "\"${http_referer}\" \"${http_user_agent}\"")
    }

    func testTheArticlesFormatAndInheritance() throws {
        let list = servers("""
            log_format upstreamlog '$remote_addr - $remote_user [$time_local] '
                                   '"$request" $status $body_bytes_sent '
                                   '"$http_referer" "$http_user_agent" '
                                   'upstream: $upstream_addr '
                                   'upstream_response_time: $upstream_response_time '
                                   'request_time: $request_time';
            log_format json escape=json '{"uri":"$request_uri"}';
            access_log /var/log/maitre/upstream.log upstreamlog buffer=32k flush=5s;
            server {
                location / { return 200; }
                location /quiet { access_log off; }
                location /both { access_log logs/a.log json if=$http_x_log; access_log logs/b.log; }
            }
            """)
        let server = try XCTUnwrap(list.first)
        let upstreamlog = try XCTUnwrap(server.settings.accessLogs.first)
        XCTAssertEqual(upstreamlog.path, "/var/log/maitre/upstream.log")
        XCTAssertEqual(upstreamlog.bufferSize, 32 * 1024)
        XCTAssertEqual(upstreamlog.flush, .seconds(5))
        XCTAssertEqual(upstreamlog.format.escape, .default)
        XCTAssertEqual(upstreamlog.format.template.description,
                       "${remote_addr} - ${remote_user} [${time_local}] \"${request}\" ${status} ${body_bytes_sent} "
                       + "\"${http_referer}\" \"${http_user_agent}\" upstream: ${upstream_addr} "
                       + "upstream_response_time: ${upstream_response_time} request_time: ${request_time}")
        let locations = server.locations
        XCTAssertEqual(locations[0].settings.accessLogs, [upstreamlog], "inherited from http")
        XCTAssertEqual(locations[1].settings.accessLogs, [], "off")
        XCTAssertEqual(locations[2].settings.accessLogs.map(\.path),
                       [directory.path + "/logs/a.log", directory.path + "/logs/b.log"])
        XCTAssertEqual(locations[2].settings.accessLogs[0].format.escape, .json)
        XCTAssertEqual(locations[2].settings.accessLogs[0].condition?.description, "${http_x_log}")
        XCTAssertEqual(locations[2].settings.accessLogs[1].format, .combined)
    }

    func testErrors() {
        assertHTTPError("access_log logs/a.log nosuch;", "unknown log format \"nosuch\" in @:2")
        assertHTTPError("access_log logs/a.log later;\nlog_format later '$status';",
                        "unknown log format \"later\" in @:2")
        assertHTTPError("log_format a '$status';\nlog_format a '$status';", "duplicate \"log_format\" name \"a\" in @:3")
        assertHTTPError("log_format combined '$status';", "duplicate \"log_format\" name \"combined\" in @:2")
        assertHTTPError("log_format a escape=xml '$status';", "unknown log format escaping \"xml\" in @:2")
        assertHTTPError("log_format a '$nosuch';", "unknown \"nosuch\" variable in @:2")
        assertHTTPError("access_log logs/a.log combined flush=1s;", "no buffer is defined for access_log \"logs/a.log\" in @:2")
        assertHTTPError("access_log logs/a.log combined buffer=big;", "invalid buffer size \"big\" in @:2")
        assertHTTPError("access_log logs/a.log combined buffer=1k flush=never;", "invalid flush time \"never\" in @:2")
        assertHTTPError("access_log logs/a.log combined gzip;", "parameter \"gzip\" is not supported in @:2")
        assertHTTPError("access_log logs/a.log combined rotate=1d;", "invalid parameter \"rotate=1d\" in @:2")
        assertHTTPError("access_log off combined;", "invalid parameter \"combined\" in @:2")
        assertHTTPError("access_log logs/$host.log;", "variables in the \"access_log\" path are not supported in @:2")
        assertHTTPError("server { log_format a '$status'; }", "\"log_format\" directive is not allowed here in @:2")
    }
}
