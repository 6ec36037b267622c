import MaitreBalancing
import XCTest

final class ClientAddressKeyTests: XCTestCase {
    private func v6(_ groups: [UInt16]) -> ClientAddressKey {
        .ipv6(groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] })
    }

    func testIPv4() {
        XCTAssertEqual(ClientAddressKey(numericAddress: "127.1.2.3"), .ipv4(127, 1, 2, 3))
        XCTAssertEqual(ClientAddressKey(numericAddress: "0.0.0.0"), .ipv4(0, 0, 0, 0))
        XCTAssertEqual(ClientAddressKey(numericAddress: "255.255.255.255"), .ipv4(255, 255, 255, 255))
    }

    func testMalformedIPv4IsOther() {
        for text in ["256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.", "1..2.3", "1.2.3.4:80", "a.b.c.d", " 1.2.3.4", "+1.2.3.4"] {
            XCTAssertEqual(ClientAddressKey(numericAddress: text), .other, text)
        }
    }

    func testIPv6() {
        XCTAssertEqual(ClientAddressKey(numericAddress: "::1"), v6([0, 0, 0, 0, 0, 0, 0, 1]))
        XCTAssertEqual(ClientAddressKey(numericAddress: "::"), v6([0, 0, 0, 0, 0, 0, 0, 0]))
        XCTAssertEqual(ClientAddressKey(numericAddress: "2001:db8::1"), v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]))
        XCTAssertEqual(ClientAddressKey(numericAddress: "fe80::"), v6([0xfe80, 0, 0, 0, 0, 0, 0, 0]))
        XCTAssertEqual(
            ClientAddressKey(numericAddress: "2001:0DB8:0000:0001:0002:0003:0004:0005"),
            v6([0x2001, 0xdb8, 0, 1, 2, 3, 4, 5])
        )
        XCTAssertEqual(ClientAddressKey(numericAddress: "1:2:3:4:5:6:7::"), v6([1, 2, 3, 4, 5, 6, 7, 0]))
    }

    func testV4MappedStaysIPv6() {
        XCTAssertEqual(
            ClientAddressKey(numericAddress: "::ffff:1.2.3.4"), v6([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304])
        )
        XCTAssertEqual(ClientAddressKey(numericAddress: "64:ff9b::10.0.0.1"), v6([0x64, 0xff9b, 0, 0, 0, 0, 0x0a00, 0x0001]))
    }

    func testBracketsAndZoneAreTolerated() {
        XCTAssertEqual(ClientAddressKey(numericAddress: "[::1]"), v6([0, 0, 0, 0, 0, 0, 0, 1]))
        XCTAssertEqual(ClientAddressKey(numericAddress: "fe80::1%eth0"), v6([0xfe80, 0, 0, 0, 0, 0, 0, 1]))
    }

    func testMalformedIPv6IsOther() {
        let malformed = [
            "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", ":::1", "1:::2", "12345::1", "g::1", ":1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8::", "::1.2.3", "1.2.3.4::", "::ffff:1.2.3.4:5", "[::1]:80", "", "unix:/tmp/sock",
        ]
        for text in malformed {
            XCTAssertEqual(ClientAddressKey(numericAddress: text), .other, text)
        }
    }
}
