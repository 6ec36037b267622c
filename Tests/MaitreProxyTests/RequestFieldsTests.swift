import XCTest

@testable import MaitreProxy

/// `$arg_NAME`, `$cookie_NAME` and `$remote_user` as nginx reads them.
final class RequestFieldsTests: XCTestCase {
    func testArguments() {
        XCTAssertEqual(RequestFields.argument("id", in: "id=7&x=1"), "7")
        XCTAssertEqual(RequestFields.argument("x", in: "id=7&x=1"), "1")
        XCTAssertEqual(RequestFields.argument("ID", in: "id=7"), "7", "names match without regard to case")
        XCTAssertEqual(RequestFields.argument("q", in: "q=a%20b"), "a%20b", "not decoded")
        XCTAssertEqual(RequestFields.argument("q", in: "q="), "", "found, empty (nginx logs nothing, not -)")
        XCTAssertNil(RequestFields.argument("d", in: "id=7"), "only at the start or after &")
        XCTAssertNil(RequestFields.argument("flag", in: "flag&x=1"), "a name without = is not found")
        XCTAssertNil(RequestFields.argument("x", in: ""))
    }

    func testCookies() {
        XCTAssertEqual(RequestFields.cookie("session", in: ["a=1; session=abc; b=2"]), "abc")
        XCTAssertEqual(RequestFields.cookie("b", in: ["a=1", "b=2"]), "2", "every Cookie header")
        XCTAssertEqual(RequestFields.cookie("A", in: ["a=1"]), "1")
        XCTAssertNil(RequestFields.cookie("sess", in: ["session=abc"]))
        XCTAssertNil(RequestFields.cookie("x", in: []))
    }

    func testBasicUser() {
        XCTAssertEqual(RequestFields.basicUser(authorization: "Basic YWxpY2U6c2VjcmV0"), "alice")
        XCTAssertEqual(RequestFields.basicUser(authorization: "basic Ym9iOg=="), "bob")
        XCTAssertNil(RequestFields.basicUser(authorization: "Bearer abc"))
        XCTAssertNil(RequestFields.basicUser(authorization: "Basic !!!"))
        XCTAssertNil(RequestFields.basicUser(authorization: "Basic bm9jb2xvbg=="), "no colon: not credentials")
        XCTAssertEqual(RequestFields.base64Decode("TWFu"), Array("Man".utf8))
        XCTAssertEqual(RequestFields.base64Decode("TWE="), Array("Ma".utf8))
        XCTAssertNil(RequestFields.base64Decode("TW=E"), "data after padding")
    }
}
