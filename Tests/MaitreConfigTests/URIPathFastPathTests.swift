import XCTest

@testable import MaitreConfig

/// The allocation-free fast path of URIPath.normalize agrees with the full nginx port on every path it accepts.
final class URIPathFastPathTests: XCTestCase {
    /// Every path over a small alphabet up to length 6: same answer with and without the fast path.
    func testFastPathAgreesWithFullParser() {
        let alphabet: [Character] = ["/", "a", ".", "%", "2", "e", "f", "?", "#"]
        var checked = 0
        var fastAccepted = 0
        func visit(_ prefix: String, depth: Int) {
            if !prefix.isEmpty {
                checked += 1
                if URIPath.isAlreadyNormal(prefix) {
                    fastAccepted += 1
                    XCTAssertEqual(URIPath.normalizeWithoutFastPath(prefix), prefix, "path \(prefix)")
                }
                XCTAssertEqual(URIPath.normalize(prefix), URIPath.normalizeWithoutFastPath(prefix), "path \(prefix)")
            }
            guard depth > 0 else { return }
            for c in alphabet { visit(prefix + String(c), depth: depth - 1) }
        }
        visit("", depth: 5)
        XCTAssertGreaterThan(fastAccepted, 100)
        XCTAssertGreaterThan(checked, 60000)
    }

    /// Typical request paths take the fast path; dot segments, double slashes and escapes do not.
    func testFastPathCoverage() {
        XCTAssertTrue(URIPath.isAlreadyNormal("/api/users/42"))
        XCTAssertTrue(URIPath.isAlreadyNormal("/"))
        XCTAssertTrue(URIPath.isAlreadyNormal("/static/app.v2.js"))
        XCTAssertFalse(URIPath.isAlreadyNormal("/a/../b"))
        XCTAssertFalse(URIPath.isAlreadyNormal("/a//b"))
        XCTAssertFalse(URIPath.isAlreadyNormal("/a%20b"))
        XCTAssertFalse(URIPath.isAlreadyNormal("a/b"))
        XCTAssertFalse(URIPath.isAlreadyNormal(""))
    }
}
