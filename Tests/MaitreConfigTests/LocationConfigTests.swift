import XCTest
@testable import MaitreConfig

final class LocationConfigTests: ConfigTestCase {
    private func locations(_ body: String) -> [Location]? {
        loadHTTP("server {\n\(body)\n}")?.servers.first?.locations
    }

    func testModifiers() throws {
        let all = try XCTUnwrap(locations("""
            location = /exact { }
            location ^~ /images/ { }
            location /plain/ { }
            location ~ \\.php$ { }
            location ~* \\.(gif|jpg)$ { }
            location =/glued { }
            location ^~/glued2/ { }
            location ~\\.glued$ { }
            location ~*\\.GLUED$ { }
            """))
        guard all.count == 9 else { return XCTFail("expected 9 locations") }
        if case .exact("/exact") = all[0].match {} else { XCTFail("\(all[0].match)") }
        if case .prefix("/images/", stopsRegexSearch: true) = all[1].match {} else { XCTFail("\(all[1].match)") }
        if case .prefix("/plain/", stopsRegexSearch: false) = all[2].match {} else { XCTFail("\(all[2].match)") }
        if case .regex(let r) = all[3].match {
            XCTAssertEqual(r.pattern, "\\.php$")
            XCTAssertFalse(r.caseInsensitive)
        } else { XCTFail("\(all[3].match)") }
        if case .regex(let r) = all[4].match { XCTAssertTrue(r.caseInsensitive) } else { XCTFail("\(all[4].match)") }
        if case .exact("/glued") = all[5].match {} else { XCTFail("\(all[5].match)") }
        if case .prefix("/glued2/", stopsRegexSearch: true) = all[6].match {} else { XCTFail("\(all[6].match)") }
        if case .regex(let r) = all[7].match { XCTAssertEqual(r.pattern, "\\.glued$") } else { XCTFail("\(all[7].match)") }
        if case .regex(let r) = all[8].match { XCTAssertTrue(r.caseInsensitive) } else { XCTFail("\(all[8].match)") }
        XCTAssertEqual(all[0].source, SourceLocation(file: mainFile, line: 3))
    }

    func testNestedLocations() throws {
        let all = try XCTUnwrap(locations("""
            location /api/ {
                proxy_read_timeout 5s;
                location /api/v2/ { proxy_pass http://10.0.0.2; }
                location ~ \\.json$ { }
                proxy_pass http://10.0.0.1;
            }
            """))
        XCTAssertEqual(all.count, 1)
        XCTAssertEqual(all[0].children.map(\.prefixName), ["/api/v2/", "\\.json$"])
        XCTAssertEqual(all[0].proxyPass?.upstreamName, "10.0.0.1:80")
        XCTAssertEqual(all[0].children[0].proxyPass?.upstreamName, "10.0.0.2:80")
        XCTAssertNil(all[0].children[1].handler, "proxy_pass is not inherited by nested locations, as in nginx")
        XCTAssertEqual(all[0].children[1].settings.proxyReadTimeout, .seconds(5))
    }

    func testErrors() {
        assertHTTPError("server {\nlocation /a { }\nlocation /a { }\n}", "duplicate location \"/a\" in @:4")
        assertHTTPError("server {\nlocation ^~ /a { }\nlocation /a { }\n}", "duplicate location \"/a\" in @:4")
        assertHTTPError("server {\nlocation = /a { }\nlocation = /a { }\n}", "duplicate location \"/a\" in @:4")
        assertHTTPError("server {\nlocation /a {\nlocation /a/b { }\nlocation /a/b { }\n}\n}", "duplicate location \"/a/b\" in @:5")
        assertHTTPError("server {\nlocation /a {\nlocation /b { }\n}\n}", "location \"/b\" is outside location \"/a\" in @:4")
        assertHTTPError("server {\nlocation = /a {\nlocation /a { }\n}\n}", "location \"/a\" cannot be inside the exact location \"/a\" in @:4")
        assertHTTPError("server {\nlocation @fallback { }\n}", "named locations are not supported (\"@fallback\") in @:3")
        assertHTTPError("server {\nlocation !! /a { }\n}", "invalid location modifier \"!!\" in @:3")
        assertHTTPError("server {\nlocation /a;\n}", "directive \"location\" has no opening \"{\" in @:3")
        assertHTTPError("server {\nlocation = /a /b { }\n}", "invalid number of arguments in \"location\" directive in @:3")
        assertHTTPError("location / { }", "\"location\" directive is not allowed here in @:2")
    }

    func testExactAndPrefixOfOneNameCoexist() throws {
        XCTAssertEqual(locations("location = /a { }\nlocation /a { }\nlocation ~ /a { }\nlocation ~ /a { }")?.count, 4)
    }

    func testInvalidRegexNamesThePattern() {
        do {
            _ = try ConfigLoader.load(
                text: "http {\nserver {\nlocation ~ (unclosed { }\n}\n}", file: mainFile, prefix: directory.path,
                resolver: FakeResolver())
            XCTFail("expected an error")
        } catch {
            XCTAssertTrue(error.message.hasPrefix("invalid regular expression \"(unclosed\": "), error.message)
            XCTAssertEqual(error.location, SourceLocation(file: mainFile, line: 3))
        }
    }
}
