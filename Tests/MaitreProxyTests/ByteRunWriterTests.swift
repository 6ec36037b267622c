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

/// Runs past the reservation are refused, never written past the memory: the estimate comes from peer bytes.
final class ByteRunWriterBoundTests: XCTestCase {
    func testOverflowIsReportedAndNothingIsWritten() {
        var buffer = ByteBuffer(string: "pre:")
        let fitted = buffer.writeRuns(maximum: 8) { w in
            w.add("12345")
            w.add("6789")  // one byte too many
            w.add(byte: 0x41)
            XCTAssertTrue(w.overflowed)
        }
        XCTAssertFalse(fitted)
        XCTAssertEqual(String(buffer: buffer), "pre:")
    }

    func testExactFitIsAccepted() {
        var buffer = ByteBuffer()
        let fitted = buffer.writeRuns(maximum: 4) { w in
            w.add("ab")
            w.add(byte: 0x63)
            w.add(byte: 0x64)
        }
        XCTAssertTrue(fitted)
        XCTAssertEqual(String(buffer: buffer), "abcd")
    }
}
