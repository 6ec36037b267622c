import XCTest
@testable import MaitreConfig

final class LocationMatcherTests: ConfigTestCase {
    private func matcher(_ locations: String) throws -> LocationMatcher {
        let server = try XCTUnwrap(loadHTTP("server {\n\(locations)\n}")?.servers.first)
        return LocationMatcher(locations: server.locations)
    }

    /// Locations are told apart by their `return` status.
    private func status(_ matcher: LocationMatcher, _ path: String) -> Int? {
        matcher.match(path: path)?.returnAction?.status
    }

    func testNginxDocumentationExample() throws {
        // The example from nginx's "location" documentation: A..E.
        let m = try matcher("""
            location = / { return 201; }
            location / { return 202; }
            location /documents/ { return 203; }
            location ^~ /images/ { return 204; }
            location ~* \\.(gif|jpg|jpeg)$ { return 205; }
            """)
        XCTAssertEqual(status(m, "/"), 201)
        XCTAssertEqual(status(m, "/index.html"), 202)
        XCTAssertEqual(status(m, "/documents/document.html"), 203)
        XCTAssertEqual(status(m, "/images/1.gif"), 204)
        XCTAssertEqual(status(m, "/documents/1.jpg"), 205)
        XCTAssertEqual(status(m, "/documents/1.JPG"), 205, "~* ignores case")
    }

    func testRegexesInWrittenOrderAndCaseSensitivity() throws {
        let m = try matcher("""
            location /static/ { return 200; }
            location ~ \\.PNG$ { return 201; }
            location ~ ^/static/.*\\.png$ { return 202; }
            location ~ \\.png$ { return 203; }
            """)
        XCTAssertEqual(status(m, "/static/a.png"), 202, "the first matching regex in written order wins")
        XCTAssertEqual(status(m, "/x/a.png"), 203)
        XCTAssertEqual(status(m, "/x/a.PNG"), 201, "~ is case-sensitive")
        XCTAssertEqual(status(m, "/static/a.css"), 200, "no regex: the longest prefix")
        XCTAssertNil(m.match(path: "/other"), "nothing matches: nil (404)")
    }

    func testExactWinsOverEverything() throws {
        let m = try matcher("""
            location ~ .* { return 200; }
            location /a { return 201; }
            location = /a { return 202; }
            """)
        XCTAssertEqual(status(m, "/a"), 202)
        XCTAssertEqual(status(m, "/ab"), 200)
    }

    func testLongestPrefixAndStopMarker() throws {
        let m = try matcher("""
            location /a/ { return 200; }
            location /a/b/ { return 201; }
            location ^~ /a/b/c/ { return 202; }
            location ~ \\.txt$ { return 203; }
            """)
        XCTAssertEqual(status(m, "/a/b/x"), 201)
        XCTAssertEqual(status(m, "/a/b/x.txt"), 203)
        XCTAssertEqual(status(m, "/a/b/c/x.txt"), 202, "^~ on the longest prefix skips regexes")
        XCTAssertEqual(status(m, "/a/b/"), 201)
    }

    func testShorterStopMarkerDoesNotStopWhenALongerPrefixMatches() throws {
        let m = try matcher("""
            location ^~ /a/ { return 200; }
            location /a/b/ { return 201; }
            location ~ \\.txt$ { return 202; }
            """)
        XCTAssertEqual(status(m, "/a/x.txt"), 200)
        XCTAssertEqual(status(m, "/a/b/x.txt"), 202, "only the longest prefix's ^~ counts")
    }

    func testNestedLocations() throws {
        let m = try matcher("""
            location /api/ {
                return 200;
                location /api/v2/ { return 201; }
                location ~ \\.json$ { return 202; }
                location = /api/exact { return 203; }
            }
            location ~ \\.json$ { return 204; }
            location ~ /api/ { return 205; }
            """)
        XCTAssertEqual(status(m, "/api/x"), 205, "the outer regex still beats the prefix")
        XCTAssertEqual(status(m, "/api/x.json"), 202, "nested regexes of the longest prefix are tried first")
        XCTAssertEqual(status(m, "/api/v2/x.json"), 202)
        XCTAssertEqual(status(m, "/api/exact"), 203)
        XCTAssertEqual(status(m, "/other.json"), 204)
    }

    func testNestedPrefixWithStopMarker() throws {
        let m = try matcher("""
            location /files/ {
                return 200;
                location ^~ /files/raw/ { return 201; }
                location ~ \\.bin$ { return 202; }
            }
            location ~ \\.bin$ { return 203; }
            """)
        XCTAssertEqual(status(m, "/files/raw/a.bin"), 203,
                       "a nested ^~ skips the nested regexes only; nginx took the outer noregex from /files/")
        XCTAssertEqual(status(m, "/files/raw/a.txt"), 201)
        XCTAssertEqual(status(m, "/files/a.bin"), 202)
    }

    func testNestedInsideRegexLocation() throws {
        let m = try matcher("""
            location ~ ^/img/ {
                return 200;
                location ~ /big/ { return 201; }
            }
            """)
        XCTAssertEqual(status(m, "/img/a"), 200)
        XCTAssertEqual(status(m, "/img/big/a"), 201)
        // As nginx, a prefix nested in a regex location is compared with the pattern text.
        assertHTTPError("server {\nlocation ~ ^/img/ {\nlocation /img/big/ { }\n}\n}",
                        "location \"/img/big/\" is outside location \"^/img/\" in @:4")
    }

    func testAutoRedirectForProxiedSlashLocations() throws {
        let m = try matcher("""
            location /app/ { proxy_pass http://10.0.0.1; }
            location /plain/ { return 200; }
            location = /exact/ { proxy_pass http://10.0.0.1; }
            location / { return 204; }
            """)
        guard case .redirectAddingSlash(let target) = m.lookup(path: "/app") else { return XCTFail("expected a redirect") }
        XCTAssertEqual(target.prefixName, "/app/")
        guard case .redirectAddingSlash = m.lookup(path: "/exact") else { return XCTFail("expected a redirect") }
        guard case .location(let plain) = m.lookup(path: "/plain") else { return XCTFail("expected a location") }
        XCTAssertEqual(plain.returnAction?.status, 204, "no redirect without proxy_pass")
        guard case .location(let app) = m.lookup(path: "/app/x") else { return XCTFail("expected a location") }
        XCTAssertEqual(app.prefixName, "/app/")
        XCTAssertEqual(status(m, "/app"), 204, "match(path:) ignores the redirect")
        guard case .none = try matcher("location /x/ { }").lookup(path: "/y") else { return XCTFail("expected none") }
    }
}
