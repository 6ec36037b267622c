import MaitreConfig
import XCTest

@testable import MaitreProxy

/// How an HTTP health probe's answer is read: the status line only, as the check module parses it.
final class HTTPProbeVerdictTests: XCTestCase {
    private func verdict(_ text: String, ended: Bool = false, expect: Set<Int> = [2, 3]) -> Bool? {
        var check = HealthCheck()
        check.kind = .http
        check.expectAlive = expect
        return HTTPProbeVerdict.evaluate(Array(text.utf8), ended: ended, check: check)
    }

    func testStatusClasses() {
        XCTAssertEqual(verdict("HTTP/1.1 200 OK\r\n"), true)
        XCTAssertEqual(verdict("HTTP/1.0 302 Found\r\n"), true)
        XCTAssertEqual(verdict("HTTP/1.1 404 Not Found\r\n"), false)
        XCTAssertEqual(verdict("HTTP/1.1 503 Busy\r\n"), false)
        XCTAssertEqual(verdict("HTTP/1.1 503 Busy\r\n", expect: [5]), true)
        XCTAssertEqual(verdict("HTTP/1.1 403.1 Forbidden\r\n", expect: [4]), true, "IIS sub-status")
        XCTAssertEqual(verdict("HTTP/1.1   204\n"), true, "several spaces, LF alone")
    }

    func testTheVerdictWaitsForTheWholeStatusCode() {
        XCTAssertNil(verdict(""))
        XCTAssertNil(verdict("HTT"))
        XCTAssertNil(verdict("HTTP/1.1 20"))
        XCTAssertNil(verdict("HTTP/1.1 200"), "a digit could still follow")
        XCTAssertNil(verdict("HTTP/1.1 200 OK"), "the line ends at its LF")
        XCTAssertEqual(verdict("HTTP/1.1 200 OK", ended: true), false, "closed before the LF")
        XCTAssertEqual(verdict("HTTP/1.1 200", ended: true), false, "closed before the line ended")
        XCTAssertEqual(verdict("", ended: true), false, "closed without a byte")
    }

    func testAnythingElseIsAFailure() {
        XCTAssertEqual(verdict("hello\r\n"), false, "HTTP/0.9 or garbage")
        XCTAssertEqual(verdict("http/1.1 200 OK\r\n"), false, "the module wants HTTP/ in capitals")
        XCTAssertEqual(verdict("HTTP/0.9 200 OK\r\n"), false, "major version 1-9")
        XCTAssertEqual(verdict("HTTP/1 200 OK\r\n"), false)
        XCTAssertEqual(verdict("HTTP/1.1 2000 OK\r\n"), false)
        XCTAssertEqual(verdict("HTTP/1.1 20x OK\r\n"), false)
        XCTAssertEqual(verdict("HTTP/1.1200 OK\r\n"), false)
        XCTAssertEqual(verdict("HTTP/1.12345 200 OK\r\n"), true, "the module's minor version is any digits")
        XCTAssertEqual(verdict("HTTP/10.1 200 OK\r\n"), true, "and so is its major, from 1")
        XCTAssertEqual(verdict("HTTP/1.1 099 X\r\n", expect: [1, 2, 3, 4, 5]), false, "not a status class")
    }
}
