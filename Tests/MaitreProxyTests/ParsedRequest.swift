import MaitreWire
import NIOCore
import XCTest

@testable import MaitreProxy

/// A client request parsed from its text as the handler parses one, with nginx's default header rules (failing
/// the test when the head is incomplete or refused).
func parsedRequest(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ClientRequest {
    let bytes = ByteBuffer(string: text)
    var head = RequestHead()
    let result = bytes.withUnsafeReadableBytes { RequestHeadParser.parse($0, into: &head) }
    XCTAssertEqual(result, .complete, file: file, line: line)
    return ClientRequest(record: RequestRecord(bytes: bytes, head: head, dropsUnderscoreNames: true), head: head)
}
