import XCTest
@testable import MaitreConfig

final class ServerTests: ConfigTestCase {
    private func server(_ body: String, resolver: FakeResolver = .standard) -> VirtualServer? {
        loadHTTP("server {\n\(body)\n}", resolver: resolver)?.servers.first
    }

    func testDefaultListenAndName() throws {
        let vs = try XCTUnwrap(server(""))
        XCTAssertEqual(vs.listens, [Listen(host: "0.0.0.0", port: 80, defaultServer: false, reusePort: false, backlog: 511,
                                           source: SourceLocation(file: mainFile, line: 2))])
        XCTAssertEqual(vs.serverNames, [.exact("")])
        XCTAssertEqual(vs.source, SourceLocation(file: mainFile, line: 2))
        XCTAssertNil(vs.returnAction)
        XCTAssertTrue(vs.locations.isEmpty)
    }

    func testListenForms() throws {
        let vs = try XCTUnwrap(server("""
            listen 8080;
            listen 127.0.0.1:8081 default_server;
            listen *:8082 reuseport backlog=1024;
            listen [::]:8083 default;
            listen [::1];
            listen 10.0.0.5;
            listen localhost:8084;
            listen 9000-9002;
            """))
        XCTAssertEqual(vs.listens.map(\.endpoint.description), [
            "0.0.0.0:8080", "127.0.0.1:8081", "0.0.0.0:8082", "[::]:8083", "[::1]:80", "10.0.0.5:80",
            "127.0.0.1:8084", "[::1]:8084", "0.0.0.0:9000", "0.0.0.0:9001", "0.0.0.0:9002",
        ])
        XCTAssertEqual(vs.listens.map(\.defaultServer), [false, true, false, true, false, false, false, false, false, false, false])
        XCTAssertTrue(vs.listens[2].reusePort)
        XCTAssertEqual(vs.listens[2].backlog, 1024)
        XCTAssertEqual(vs.listens[0].backlog, 511)
        XCTAssertEqual(vs.listens[0].source, SourceLocation(file: mainFile, line: 3))
    }

    func testSocketOptionsApplyToEveryServerOnTheAddress() throws {
        let http = try XCTUnwrap(loadHTTP("server { listen 80; }\nserver { listen 80 reuseport backlog=64; }"))
        XCTAssertEqual(http.servers.map { $0.listens[0].reusePort }, [true, true])
        XCTAssertEqual(http.servers.map { $0.listens[0].backlog }, [64, 64])
    }

    func testListenErrors() {
        assertHTTPError("server {\nlisten 80 default_server;\n}\nserver {\nlisten 0.0.0.0:80 default_server;\n}",
                        "a duplicate default server for 0.0.0.0:80 in @:6")
        assertHTTPError("server {\nlisten 80;\nlisten *:80;\n}", "a duplicate listen 0.0.0.0:80 in @:4")
        assertHTTPError("server {\nlisten 80 backlog=5;\n}\nserver {\nlisten 80 reuseport;\n}",
                        "duplicate listen options for 0.0.0.0:80 in @:6")
        assertHTTPError("server {\nlisten 0;\n}", "invalid port in \"0\" of the \"listen\" directive in @:3")
        assertHTTPError("server {\nlisten 70000;\n}", "invalid port in \"70000\" of the \"listen\" directive in @:3")
        assertHTTPError("server {\nlisten 9002-9000;\n}", "invalid port range in \"9002-9000\" of the \"listen\" directive in @:3")
        assertHTTPError("server {\nlisten 1.2.3.4:x;\n}", "invalid port in \"1.2.3.4:x\" of the \"listen\" directive in @:3")
        assertHTTPError("server {\nlisten 1.2.3.4/x;\n}", "invalid host in \"1.2.3.4/x\" of the \"listen\" directive in @:3")
        assertHTTPError("server {\nlisten :80;\n}", "no host in \":80\" of the \"listen\" directive in @:3")
        assertHTTPError("server {\nlisten [::1:80;\n}", "invalid host in \"[::1:80\" of the \"listen\" directive in @:3")
        assertHTTPError("server {\nlisten [::g]:80;\n}", "invalid IPv6 address in \"[::g]:80\" of the \"listen\" directive in @:3")
        assertHTTPError("server {\nlisten nowhere.example:80;\n}", "host not found in \"nowhere.example:80\" of the \"listen\" directive in @:3")
        assertHTTPError("server {\nlisten unix:/tmp/s;\n}", "unix domain sockets are not supported in \"unix:/tmp/s\" of the \"listen\" directive in @:3")
        assertHTTPError("server {\nlisten 80 backlog=0;\n}", "invalid backlog \"backlog=0\" in @:3")
        assertHTTPError("server {\nlisten 443 ssl;\n}", "the \"ssl\" parameter of the \"listen\" directive is not supported in @:3")
        assertHTTPError("server {\nlisten 80 rcvbuf=8k;\n}", "the \"rcvbuf=8k\" parameter of the \"listen\" directive is not supported in @:3")
        assertHTTPError("server {\nlisten 80 fast;\n}", "invalid parameter \"fast\" in @:3")
        assertHTTPError("server {\nlisten;\n}", "invalid number of arguments in \"listen\" directive in @:3")
        assertHTTPError("listen 80;", "\"listen\" directive is not allowed here in @:2")
    }

    func testServerNames() throws {
        let vs = try XCTUnwrap(server("server_name Example.COM *.example.org .example.net www.example.* \"\";"))
        XCTAssertEqual(vs.serverNames, [
            .exact("example.com"), .leadingWildcard(suffix: ".example.org", matchesBareDomain: false),
            .leadingWildcard(suffix: ".example.net", matchesBareDomain: true), .trailingWildcard(prefix: "www.example."),
            .exact(""),
        ])
    }

    func testServerNameErrorsAndWarnings() throws {
        assertHTTPError("server {\nserver_name *;\n}", "server name \"*\" is invalid in @:3")
        assertHTTPError("server {\nserver_name *example.com;\n}", "server name \"*example.com\" is invalid in @:3")
        assertHTTPError("server {\nserver_name .;\n}", "server name \".\" is invalid in @:3")
        assertHTTPError("server {\nserver_name ~^www\\d+$;\n}", "regular expression server names are not supported (\"~^www\\d+$\") in @:3")
        assertHTTPError("server { }\nserver {\nserver_name www.*.com;\n}", "invalid server name or wildcard \"www.*.com\" on 0.0.0.0:80 in @:4")
        assertHTTPError("server { }\nserver {\nserver_name a..b;\n}", "invalid server name or wildcard \"a..b\" on 0.0.0.0:80 in @:4")
        // nginx builds the name hash only for an address shared by several servers, so a lone server's bad
        // wildcard goes unchecked (and can never match).
        XCTAssertEqual(loadHTTP("server { server_name www.*.com ok.test; }")?.servers.first?.serverNames, [.exact("ok.test")])

        let configuration = try XCTUnwrap(load("""
            http {
            server { listen 8080; server_name a.test b.test; }
            server { listen 8080; server_name a.test; }
            server { listen 9090; server_name a.test; }
            server { server_name x/y; }
            }
            """))
        XCTAssertEqual(configuration.warnings.map(\.description), [
            "server name \"x/y\" has suspicious symbols in \(mainFile):5",
            "conflicting server name \"a.test\" on 0.0.0.0:8080, ignored",
        ])
        XCTAssertEqual(configuration.http?.servers[1].serverNames, [.exact("a.test")], "the model keeps what was written")
    }

    func testServerReturn() throws {
        let vs = try XCTUnwrap(server("return 301 https://$host$request_uri;\nreturn 404;\nlocation / { return 200 \"ok\\n\"; }"))
        let action = try XCTUnwrap(vs.returnAction)
        XCTAssertEqual(action.status, 301)
        XCTAssertEqual(action.text, VariableTemplate(parts: [.literal("https://"), .variable(.host), .variable(.requestURI)]))
        XCTAssertEqual(vs.locations[0].returnAction?.status, 200)
        XCTAssertEqual(vs.locations[0].returnAction?.text?.constantValue, "ok\n")
    }

    func testReturnForms() throws {
        func action(_ text: String) -> ReturnAction? { server("location / { \(text) }")?.locations.first?.returnAction }
        XCTAssertEqual(action("return 204;")?.status, 204)
        XCTAssertNil(action("return 204;")?.text)
        XCTAssertEqual(action("return http://example.com/;")?.status, 302)
        XCTAssertEqual(action("return http://example.com/;")?.text?.constantValue, "http://example.com/")
        XCTAssertEqual(action("return $scheme://x;")?.status, 302)
        XCTAssertEqual(action("return 307 /elsewhere;")?.text?.constantValue, "/elsewhere")
        XCTAssertEqual(action("return 999;")?.status, 999)
        // return runs in the rewrite phase, before proxy_pass could.
        XCTAssertEqual(action("proxy_pass http://10.0.0.1; return 403;")?.status, 403)
        XCTAssertEqual(action("return 403; return 404;")?.status, 403)
    }

    func testReturnErrors() {
        assertHTTPError("server {\nreturn 1000;\n}", "invalid return code \"1000\" in @:3")
        assertHTTPError("server {\nreturn example.com;\n}", "invalid return code \"example.com\" in @:3")
        assertHTTPError("server {\nreturn HTTP://x;\n}", "invalid return code \"HTTP://x\" in @:3")
        assertHTTPError("server {\nreturn http://x y;\n}", "invalid return code \"http://x\" in @:3")
        assertHTTPError("server {\nreturn 200 $nope;\n}", "unknown \"nope\" variable in @:3")
        assertHTTPError("server {\nreturn;\n}", "invalid number of arguments in \"return\" directive in @:3")
        assertHTTPError("return 200;", "\"return\" directive is not allowed here in @:2")
    }
}
