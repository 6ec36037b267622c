import XCTest
@testable import MaitreConfig

final class URIPathTests: ConfigTestCase {
    func testNormalize() {
        XCTAssertEqual(URIPath.normalize("/"), "/")
        XCTAssertEqual(URIPath.normalize("/a/b"), "/a/b")
        XCTAssertEqual(URIPath.normalize("//a///b//"), "/a/b/")
        XCTAssertEqual(URIPath.normalize("/a/./b/."), "/a/b/")
        XCTAssertEqual(URIPath.normalize("/a/b/../c"), "/a/c")
        XCTAssertEqual(URIPath.normalize("/a/b/.."), "/a/")
        XCTAssertEqual(URIPath.normalize("/a/.."), "/")
        XCTAssertEqual(URIPath.normalize("/a/..."), "/a/...")
        XCTAssertEqual(URIPath.normalize("/a/.b"), "/a/.b")
        XCTAssertEqual(URIPath.normalize("/a%20b"), "/a b")
        XCTAssertEqual(URIPath.normalize("/a%2Fb"), "/a/b")
        XCTAssertEqual(URIPath.normalize("/a/%2e%2E/b"), "/b", "decoded dots act as dots")
        XCTAssertEqual(URIPath.normalize("/a%2F%2Fb"), "/a/b", "decoded slashes are merged too")
        XCTAssertEqual(URIPath.normalize("/%3F%23%25"), "/?#%", "decoded ? # % stay literal")
        XCTAssertEqual(URIPath.normalize("/caf%C3%A9"), "/café")
        XCTAssertEqual(URIPath.normalize("/a?x"), "/a", "a query, if passed in, is cut off")
        XCTAssertNil(URIPath.normalize("/.."))
        XCTAssertNil(URIPath.normalize("/a/../.."))
        XCTAssertNil(URIPath.normalize("/%2e%2e/x"))
        XCTAssertNil(URIPath.normalize("/a%zz"))
        XCTAssertNil(URIPath.normalize("/a%2"))
        XCTAssertNil(URIPath.normalize("/a%00b"))
        XCTAssertNil(URIPath.normalize("a/b"), "a path must start with /")
        XCTAssertNil(URIPath.normalize(""))
    }

    private func location(_ block: String) throws -> Location {
        try XCTUnwrap(loadHTTP("server {\n\(block)\n}")?.servers.first?.locations.first)
    }

    private func target(_ location: Location, _ uri: String) -> String? {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard let pass = location.proxyPass, let path = URIPath.normalize(String(parts[0])) else { return nil }
        return URIPath.upstreamTarget(
            originalURI: uri, normalizedPath: path, args: parts.count > 1 ? String(parts[1]) : nil, location: location,
            proxyPass: pass)
    }

    func testURIPartReplacesTheMatchedPrefix() throws {
        let name = try location("location /name/ { proxy_pass http://127.0.0.1/remote/; }")
        XCTAssertEqual(target(name, "/name/x"), "/remote/x")
        XCTAssertEqual(target(name, "/name/a//b/../c?q=1"), "/remote/a/c?q=1")
        XCTAssertEqual(target(name, "/name/a%20b"), "/remote/a%20b", "re-escaped when the client escaped")
        XCTAssertEqual(target(name, "/name/a%3Fb"), "/remote/a%3Fb")
        XCTAssertEqual(target(name, "/name/x?"), "/remote/x", "an empty query is dropped")
        let root = try location("location / { proxy_pass http://127.0.0.1/; }")
        XCTAssertEqual(target(root, "/x/y"), "/x/y")
        let strip = try location("location /api/ { proxy_pass http://127.0.0.1/; }")
        XCTAssertEqual(target(strip, "/api/users"), "/users")
        let noSlash = try location("location /api { proxy_pass http://127.0.0.1/v1; }")
        XCTAssertEqual(target(noSlash, "/api/users"), "/v1/users")
        let exact = try location("location = /old { proxy_pass http://127.0.0.1/new; }")
        XCTAssertEqual(target(exact, "/old?a=b"), "/new?a=b")
    }

    func testWithoutURIPartTheOriginalIsSent() throws {
        let plain = try location("location /name/ { proxy_pass http://127.0.0.1; }")
        XCTAssertEqual(target(plain, "/name/a//b/../c?q=1"), "/name/a//b/../c?q=1")
        XCTAssertEqual(target(plain, "/name/%7Euser"), "/name/%7Euser")
        let regex = try location("location ~ \\.php$ { proxy_pass http://127.0.0.1; }")
        XCTAssertEqual(target(regex, "/a/b.php?x"), "/a/b.php?x")
        // The original without its query, with args given separately.
        let pass = try XCTUnwrap(plain.proxyPass)
        XCTAssertEqual(URIPath.upstreamTarget(originalURI: "/name/x", normalizedPath: "/name/x", args: "k=v",
                                              location: plain, proxyPass: pass), "/name/x?k=v")
    }
}
