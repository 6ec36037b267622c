import NIOCore
import XCTest

@testable import MaitreProxy

/// The single-reservation writer appends exactly the runs it is given, after what the buffer held.
final class ByteRunWriterTests: XCTestCase {
    func testRunsAppendInOrder() {
        var buffer = ByteBuffer(string: "pre:")
        let raw: [UInt8] = Array("raw".utf8)
        buffer.writeRuns(maximum: 64) { w in
            w.add("static ")
            w.add(String(repeating: "é", count: 3))
            w.add(byte: UInt8(ascii: "!"))
            raw.withUnsafeBytes { w.add($0) }
        }
        XCTAssertEqual(String(buffer: buffer), "pre:static ééé!raw")
    }

    /// A longer string than the small-string size goes through the same path.
    func testLongString() {
        var buffer = ByteBuffer()
        let long = String(repeating: "x", count: 1000)
        buffer.writeRuns(maximum: 1000) { w in w.add(long) }
        XCTAssertEqual(buffer.readableBytes, 1000)
    }
}
