import XCTest
@testable import MaitreConfig

final class UnitsTests: XCTestCase {
    func testIntegers() {
        XCTAssertEqual(Units.integer("0"), 0)
        XCTAssertEqual(Units.integer("1024"), 1024)
        XCTAssertNil(Units.integer(""))
        XCTAssertNil(Units.integer("-1"))
        XCTAssertNil(Units.integer("1k"))
        XCTAssertNil(Units.integer("99999999999999999999999"))
    }

    func testSizes() {
        XCTAssertEqual(Units.size("512"), 512)
        XCTAssertEqual(Units.size("4k"), 4096)
        XCTAssertEqual(Units.size("4K"), 4096)
        XCTAssertEqual(Units.size("1m"), 1_048_576)
        XCTAssertEqual(Units.size("2M"), 2_097_152)
        XCTAssertNil(Units.size("1g"), "ngx_parse_size has no g")
        XCTAssertNil(Units.size("k"))
        XCTAssertNil(Units.size("1.5k"))
        XCTAssertNil(Units.size(""))
        XCTAssertEqual(Units.offset("1g"), 1 << 30)
        XCTAssertEqual(Units.offset("10m"), 10 << 20)
    }

    func testMillisecondTimes() {
        XCTAssertEqual(Units.milliseconds("60"), .seconds(60), "a bare number is seconds")
        XCTAssertEqual(Units.milliseconds("500ms"), TimeSpan(milliseconds: 500))
        XCTAssertEqual(Units.milliseconds("5s"), .seconds(5))
        XCTAssertEqual(Units.milliseconds("2m"), .seconds(120))
        XCTAssertEqual(Units.milliseconds("1h"), .seconds(3600))
        XCTAssertEqual(Units.milliseconds("1d"), .seconds(86400))
        XCTAssertEqual(Units.milliseconds("1w"), .seconds(604_800))
        XCTAssertEqual(Units.milliseconds("1m30s"), .seconds(90))
        XCTAssertEqual(Units.milliseconds("1h 30m"), .seconds(5400))
        XCTAssertEqual(Units.milliseconds("1s500ms"), TimeSpan(milliseconds: 1500))
        XCTAssertEqual(Units.milliseconds("0"), .zero)
        XCTAssertNil(Units.milliseconds("1y"), "years and months are refused for millisecond values")
        XCTAssertNil(Units.milliseconds("1M"))
        XCTAssertNil(Units.milliseconds("30s1m"), "units must go from largest to smallest")
        XCTAssertNil(Units.milliseconds("1s1s"))
        XCTAssertNil(Units.milliseconds("s"))
        XCTAssertNil(Units.milliseconds("5x"))
        XCTAssertNil(Units.milliseconds(""))
    }

    func testSecondTimes() {
        XCTAssertEqual(Units.seconds("30s"), .seconds(30))
        XCTAssertEqual(Units.seconds("30"), .seconds(30))
        XCTAssertEqual(Units.seconds("1y"), .seconds(365 * 86400))
        XCTAssertEqual(Units.seconds("1M"), .seconds(30 * 86400))
        let day: Int64 = 86400
        let expected: Int64 = 365 * day + 30 * day + 7 * day + day + 3600 + 61
        XCTAssertEqual(Units.seconds("1y1M1w1d1h1m1s"), .seconds(expected))
        XCTAssertNil(Units.seconds("500ms"), "no milliseconds where nginx counts seconds")
    }
}
