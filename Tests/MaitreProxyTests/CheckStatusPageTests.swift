import MaitreConfig
import XCTest

@testable import MaitreProxy

/// The check module's status page, format by format.
final class CheckStatusPageTests: XCTestCase {
    private let rows = [
        CheckStatusPage.Row(index: 0, upstream: "backend", name: "10.0.0.1:80", isDown: false, riseCount: 58,
                            fallCount: 0, type: "http", port: 0),
        CheckStatusPage.Row(index: 1, upstream: "backend", name: "10.0.0.2:80", isDown: true, riseCount: 0,
                            fallCount: 7, type: "http", port: 8081),
    ]

    func testCSVIsOneLinePerServer() {
        XCTAssertEqual(
            CheckStatusPage.body(rows, format: .csv, filter: .all, generation: 1),
            "0,backend,10.0.0.1:80,up,58,0,http,0\n1,backend,10.0.0.2:80,down,0,7,http,8081\n")
    }

    /// The module's JSON, without its trailing comma when a filter hides the last server; the index stays the
    /// server's place among all checked servers.
    func testJSONWithAndWithoutFilter() {
        XCTAssertEqual(
            CheckStatusPage.body(rows, format: .json, filter: .all, generation: 3),
            """
            {"servers": {
              "total": 2,
              "generation": 3,
              "server": [
                {"index": 0, "upstream": "backend", "name": "10.0.0.1:80", "status": "up", "rise": 58, "fall": 0, "type": "http", "port": 0},
                {"index": 1, "upstream": "backend", "name": "10.0.0.2:80", "status": "down", "rise": 0, "fall": 7, "type": "http", "port": 8081}
              ]
            }}

            """)
        XCTAssertEqual(
            CheckStatusPage.body(rows, format: .json, filter: .up, generation: 3),
            """
            {"servers": {
              "total": 1,
              "generation": 3,
              "server": [
                {"index": 0, "upstream": "backend", "name": "10.0.0.1:80", "status": "up", "rise": 58, "fall": 0, "type": "http", "port": 0}
              ]
            }}

            """)
    }

    func testHTMLTableMarksDownServers() {
        let page = CheckStatusPage.body(rows, format: .html, filter: .down, generation: 1)
        XCTAssertTrue(page.contains("<h2>Check upstream server number: 1, generation: 1</h2>"), page)
        XCTAssertTrue(page.contains("<th>Index</th>\n    <th>Upstream</th>\n    <th>Name</th>\n    <th>Status</th>\n"
                                    + "    <th>Rise counts</th>\n    <th>Fall counts</th>\n    <th>Check type</th>\n"
                                    + "    <th>Check port</th>"), page)
        XCTAssertTrue(page.contains("  <tr bgcolor=\"#FF0000\">\n    <td>1</td>\n    <td>backend</td>\n"
                                    + "    <td>10.0.0.2:80</td>\n    <td>down</td>\n"), page)
        XCTAssertFalse(page.contains("10.0.0.1:80"), "status=down hides the up server")
        XCTAssertTrue(page.hasSuffix("</table>\n</body>\n</html>\n"))
    }

    func testQueryOptions() {
        XCTAssertEqual(CheckStatusPage.options(query: nil, default: .html).0, .html)
        XCTAssertEqual(CheckStatusPage.options(query: "format=json", default: .html).0, .json)
        XCTAssertEqual(CheckStatusPage.options(query: "FORMAT=csv&format=json", default: .html).0, .csv,
                       "names in any case, the first occurrence wins")
        XCTAssertEqual(CheckStatusPage.options(query: "format=JSON", default: .csv).0, .csv,
                       "a value is case-sensitive; an unknown one is ignored")
        XCTAssertEqual(CheckStatusPage.options(query: "format=bogus&format=json", default: .html).0, .html,
                       "the first occurrence decides, even when its value is unknown")
        XCTAssertEqual(CheckStatusPage.options(query: "status=DOWN", default: .html).1, .down)
        XCTAssertEqual(CheckStatusPage.options(query: "status=sideways", default: .html).1, .all)
        XCTAssertEqual(CheckStatusPage.contentType(.json), "application/json")
        XCTAssertEqual(CheckStatusPage.contentType(.csv), "text/plain")
    }
}
