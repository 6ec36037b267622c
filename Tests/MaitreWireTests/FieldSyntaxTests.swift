import XCTest

@testable import MaitreWire

/// The bit-mask byte classes agree with their definitions for all 256 byte values.
final class FieldSyntaxTests: XCTestCase {
    func testByteClassesMatchDefinitions() {
        let tcharSymbols = Set("!#$%&'*+-.^_`|~".utf8)
        for value in 0...255 {
            let b = UInt8(value)
            let isAlnum = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            XCTAssertEqual(FieldSyntax.isTokenByte(b), isAlnum || tcharSymbols.contains(b), "tchar \(value)")
            XCTAssertEqual(FieldSyntax.isPlainNameByte(b), isAlnum || b == UInt8(ascii: "-"), "plain \(value)")
        }
    }
}
