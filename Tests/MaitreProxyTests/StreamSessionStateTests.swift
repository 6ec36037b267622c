import MaitreConfig
import XCTest

@testable import MaitreProxy

/// The stream sessions' machines, without sockets: nginx's ngx_stream_proxy_test_finalize and next-upstream rules.
final class StreamSessionStateTests: XCTestCase {
    private let retry = StreamSessionState.RetryInputs(
        enabled: true, triesLeft: 1, elapsedMilliseconds: 0, timeoutMilliseconds: 0)

    func testConnectRetryThenRelayThenClientEnd() {
        var s = StreamSessionState(halfClose: false)
        XCTAssertEqual(s.start(hasUpstream: true), [.connect])
        XCTAssertEqual(s.connectFailed(retry), [.connect])
        XCTAssertEqual(s.connected(), [.startRelay])
        XCTAssertEqual(s.phase, .relaying)
        XCTAssertEqual(s.inputEnded(from: .client), [.drain(toward: .upstream)])
        // Without half-close the session ends once the client's bytes reached the server.
        XCTAssertEqual(s.drained(toward: .upstream), [.finish(status: 200)])
        XCTAssertEqual(s.inputEnded(from: .upstream), [], "nothing after the end")
    }

    func testRetryRulesGive502() {
        var exhausted = StreamSessionState(halfClose: false)
        _ = exhausted.start(hasUpstream: true)
        var noTries = retry
        noTries.triesLeft = 0
        XCTAssertEqual(exhausted.connectFailed(noTries), [.finish(status: 502)])

        var off = StreamSessionState(halfClose: false)
        _ = off.start(hasUpstream: true)
        var disabled = retry
        disabled.enabled = false
        XCTAssertEqual(off.connectFailed(disabled), [.finish(status: 502)])

        var late = StreamSessionState(halfClose: false)
        _ = late.start(hasUpstream: true)
        var timedOut = retry
        timedOut.timeoutMilliseconds = 100
        timedOut.elapsedMilliseconds = 100
        XCTAssertEqual(late.connectFailed(timedOut), [.finish(status: 502)])

        var none = StreamSessionState(halfClose: false)
        _ = none.start(hasUpstream: true)
        XCTAssertEqual(none.noServer(), [.finish(status: 502)])

        var noHandler = StreamSessionState(halfClose: false)
        XCTAssertEqual(noHandler.start(hasUpstream: false), [.finish(status: 500)])
    }

    func testClientEndWhileConnectingIsPassedOnOnceConnected() {
        var s = StreamSessionState(halfClose: false)
        _ = s.start(hasUpstream: true)
        XCTAssertEqual(s.inputEnded(from: .client), [], "the bytes wait for the connection")
        XCTAssertEqual(s.connected(), [.startRelay, .drain(toward: .upstream)])
        XCTAssertEqual(s.drained(toward: .upstream), [.finish(status: 200)])
    }

    func testBothEndsWithoutHalfCloseFinishAtOnce() {
        var s = StreamSessionState(halfClose: false)
        _ = s.start(hasUpstream: true)
        _ = s.connected()
        XCTAssertEqual(s.inputEnded(from: .upstream), [.drain(toward: .client)])
        XCTAssertEqual(s.inputEnded(from: .client), [.drain(toward: .upstream), .finish(status: 200)])
    }

    func testHalfCloseWaitsForBothDirections() {
        var s = StreamSessionState(halfClose: true)
        _ = s.start(hasUpstream: true)
        _ = s.connected()
        XCTAssertEqual(s.inputEnded(from: .client), [.drain(toward: .upstream)])
        XCTAssertEqual(s.drained(toward: .upstream), [.shutDownOutput(of: .upstream)])
        XCTAssertEqual(s.phase, .relaying, "the server may still answer")
        XCTAssertEqual(s.inputEnded(from: .upstream), [.drain(toward: .client)])
        XCTAssertEqual(s.drained(toward: .client), [.shutDownOutput(of: .client), .finish(status: 200)])
    }

    func testTimeoutsWriteFailuresAndRefusals() {
        var idle = StreamSessionState(halfClose: false)
        _ = idle.start(hasUpstream: true)
        XCTAssertEqual(idle.timedOut(), [], "connect timeouts are the connect's")
        _ = idle.connected()
        XCTAssertEqual(idle.timedOut(), [.finish(status: 200)])

        var broken = StreamSessionState(halfClose: false)
        _ = broken.start(hasUpstream: true)
        _ = broken.connected()
        XCTAssertEqual(broken.writeFailed(), [.finish(status: 200)])
        XCTAssertEqual(broken.writeFailed(), [])

        var refused = StreamSessionState(halfClose: false)
        XCTAssertEqual(refused.forbidden(), [.finish(status: 403)])
    }

    func testDatagramSessionEndsOnceTheExpectedAnswersCame() {
        var s = DatagramSessionState(expectedResponses: 1, requestLimit: 0)
        XCTAssertEqual(s.start(hasUpstream: true), [.connect])
        XCTAssertEqual(s.clientDatagram(), [.queue])
        XCTAssertEqual(s.clientDatagram(), [.queue])
        XCTAssertEqual(s.connected(), [.sendQueued])
        XCTAssertEqual(s.upstreamDatagram(), [.forwardToClient])
        XCTAssertEqual(s.upstreamDatagram(), [.forwardToClient, .finish(status: 200)], "two datagrams, two answers")
    }

    func testDatagramSessionWithoutProxyResponsesLastsUntilTheTimeout() {
        var s = DatagramSessionState(expectedResponses: nil, requestLimit: 0)
        _ = s.start(hasUpstream: true)
        _ = s.connected()
        XCTAssertEqual(s.clientDatagram(), [.forwardToUpstream])
        XCTAssertEqual(s.upstreamDatagram(), [.forwardToClient])
        XCTAssertEqual(s.timedOut(), [.finish(status: 200)])

        var short = DatagramSessionState(expectedResponses: 2, requestLimit: 0)
        _ = short.start(hasUpstream: true)
        _ = short.connected()
        _ = short.clientDatagram()
        _ = short.upstreamDatagram()
        XCTAssertEqual(short.timedOut(), [.finish(status: 502)], "an answer is missing")
    }

    func testDatagramRetryOnlyBeforeAnyAnswerAndRequestLimit() {
        let retry = StreamSessionState.RetryInputs(enabled: true, triesLeft: 1, elapsedMilliseconds: 0, timeoutMilliseconds: 0)
        var s = DatagramSessionState(expectedResponses: 1, requestLimit: 2)
        _ = s.start(hasUpstream: true)
        _ = s.connected()
        XCTAssertEqual(s.clientDatagram(), [.forwardToUpstream])
        XCTAssertEqual(s.upstreamFailed(retry: retry), [.connect])
        XCTAssertEqual(s.connected(), [.sendQueued])
        XCTAssertEqual(s.upstreamDatagram(), [.forwardToClient], "proxy_requests 2: not over after one")
        XCTAssertEqual(s.upstreamFailed(retry: retry), [], "after an answer an error does not retry")
        XCTAssertEqual(s.clientDatagram(), [.forwardToUpstream, .unbind])
        XCTAssertEqual(s.upstreamDatagram(), [.forwardToClient, .finish(status: 200)])
    }
}

/// The Set-Cookie line `sticky cookie` writes, byte for byte as nginx's ngx_http_upstream_sticky_cookie_insert.
final class StickyCookieLineTests: XCTestCase {
    func testNginxsOrderAndFormats() {
        var cookie = StickyCookie(name: "srv_id")
        XCTAssertEqual(StickySession.cookieLine(cookie, serverID: Array("abc".utf8)), "Set-Cookie: srv_id=abc\r\n")
        cookie.expires = .max
        cookie.domain = ".example.com"
        cookie.httpOnly = true
        cookie.secure = true
        cookie.sameSite = "lax"
        cookie.path = "/"
        XCTAssertEqual(
            StickySession.cookieLine(cookie, serverID: Array("abc".utf8)),
            "Set-Cookie: srv_id=abc; expires=Thu, 31-Dec-37 23:55:55 GMT; max-age=315360000; domain=.example.com; "
                + "httponly; secure; samesite=lax; path=/\r\n")
        var hour = StickyCookie(name: "s")
        hour.expires = .seconds(3600)
        // 2026-11-29 00:00:00 UTC, one hour later.
        XCTAssertEqual(
            StickySession.cookieLine(hour, serverID: [0x31], now: 1_795_910_400),
            "Set-Cookie: s=1; expires=Sun, 29-Nov-26 01:00:00 GMT; max-age=3600\r\n")
        XCTAssertEqual(StickySession.cookieTime(2_200_000_000), "Sun, 18-Sep-2039 23:06:40 GMT", "four digits after 2037")
    }
}
