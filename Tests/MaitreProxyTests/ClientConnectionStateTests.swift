import XCTest

@testable import MaitreProxy

/// The client connection's states and transitions, without sockets.
final class ClientConnectionStateTests: XCTestCase {
    func testKeepAliveRequestWithLengthBody() {
        var s = ClientConnectionState()
        XCTAssertTrue(s.isIdle)
        s.headAccepted(framing: .contentLength(10))
        XCTAssertEqual(s.request, .body(.length(remaining: 10), sink: .exchange))
        XCTAssertEqual(s.response, .open)
        XCTAssertFalse(s.isIdle, "a pipelined head waits for this request")
        XCTAssertFalse(s.lengthBodyRead(4))
        XCTAssertEqual(s.request, .body(.length(remaining: 6), sink: .exchange))
        XCTAssertTrue(s.lengthBodyRead(6))
        XCTAssertEqual(s.request, .awaitingHead)
        XCTAssertFalse(s.isIdle, "the response is still open")
        XCTAssertEqual(s.responseFinished(keepAlive: true), .keepAlive)
        XCTAssertTrue(s.isIdle)
    }

    /// A response may end before its request body does (a local 404 while the body arrives): the rest is dropped.
    func testLocalAnswerDiscardsTheRestOfTheBody() {
        var s = ClientConnectionState()
        s.headAccepted(framing: .chunked)
        XCTAssertEqual(s.responseFinished(keepAlive: true), .keepAlive)
        s.discardRestOfBody()
        XCTAssertTrue(s.isDiscardingBody)
        XCTAssertFalse(s.isIdle, "still reading the old body")
        s.chunkedBodyEnded()
        XCTAssertFalse(s.isDiscardingBody)
        XCTAssertTrue(s.isIdle)
    }

    func testResponseThatForbidsKeepAliveCloses() {
        var s = ClientConnectionState()
        s.headAccepted(framing: .none)
        XCTAssertEqual(s.responseFinished(keepAlive: false), .close)
        XCTAssertTrue(s.isClosing)
        XCTAssertFalse(s.isIdle)
    }

    func testRefusedHeadIsAnsweredThenCloses() {
        var s = ClientConnectionState()
        s.headRefused()
        XCTAssertEqual(s.response, .open)
        XCTAssertEqual(s.responseFinished(keepAlive: false), .close)
        XCTAssertTrue(s.isClosing)
    }

    /// Quiescing closes an idle connection at once; a busy one finishes its request with Connection: close.
    func testQuiesce() {
        var idle = ClientConnectionState()
        XCTAssertEqual(idle.quiesce(), .closeNow)
        XCTAssertTrue(idle.isClosing)

        var busy = ClientConnectionState()
        busy.headAccepted(framing: .contentLength(3))
        XCTAssertEqual(busy.quiesce(), .finishFirst)
        XCTAssertTrue(busy.isQuiescing)
        XCTAssertTrue(busy.lengthBodyRead(3))
        XCTAssertEqual(busy.responseFinished(keepAlive: true), .close, "keep-alive is refused while quiescing")
        XCTAssertTrue(busy.isClosing)

        var closing = ClientConnectionState()
        closing.close()
        XCTAssertEqual(closing.quiesce(), .finishFirst, "nothing more to do for a closing connection")
        XCTAssertTrue(closing.isClosing)
    }

    /// A reload that removed the listener: the request being read is still served, then the connection closes.
    func testFinishAfterThisRequest() {
        var s = ClientConnectionState()
        s.finishAfterThisRequest()
        XCTAssertTrue(s.isIdle, "a head that already arrived is served")
        s.headAccepted(framing: .none)
        XCTAssertEqual(s.responseFinished(keepAlive: true), .close)
    }

    /// Reading past a length body's end cannot make the remaining count negative.
    func testLengthBodyNeverGoesNegative() {
        var s = ClientConnectionState()
        s.headAccepted(framing: .contentLength(2))
        XCTAssertTrue(s.lengthBodyRead(5))
        XCTAssertEqual(s.request, .awaitingHead)
        XCTAssertFalse(s.lengthBodyRead(1), "no body to read")
    }
}
