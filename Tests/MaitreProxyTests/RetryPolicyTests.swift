import MaitreConfig
import XCTest

@testable import MaitreProxy

/// nginx's next-upstream decisions (ngx_http_upstream_next / ngx_http_upstream_test_next), branch by branch.
final class RetryPolicyTests: XCTestCase {
    private func attempt(
        _ conditions: NextUpstreamConditions = .default, tries: Int = 2, canReplay: Bool = true, sent: Bool = true,
        idempotent: Bool = true, elapsed: Int64 = 0, timeout: Int64 = 0, reused: Bool = false
    ) -> RetryPolicy.Attempt {
        RetryPolicy.Attempt(
            conditions: conditions, triesLeft: tries, canReplay: canReplay, requestSent: sent,
            isIdempotent: idempotent, elapsedMilliseconds: elapsed, timeoutMilliseconds: timeout,
            reusedConnection: reused)
    }

    func testTransportFailures() {
        XCTAssertEqual(RetryPolicy.afterFailure(.error, attempt()), .nextPeer)
        XCTAssertEqual(RetryPolicy.afterFailure(.timeout, attempt()), .nextPeer)
        XCTAssertEqual(RetryPolicy.afterFailure(.invalidHeader, attempt()), .fail(status: 502),
                       "invalid_header is not in nginx's default")
        XCTAssertEqual(RetryPolicy.afterFailure(.invalidHeader, attempt([.invalidHeader])), .nextPeer)
        XCTAssertEqual(RetryPolicy.afterFailure(.timeout, attempt([.error])), .fail(status: 504))
        XCTAssertEqual(RetryPolicy.afterFailure(.error, attempt([])), .fail(status: 502), "proxy_next_upstream off")
        XCTAssertEqual(RetryPolicy.afterFailure(.error, attempt(tries: 0)), .fail(status: 502), "no try left")
        XCTAssertEqual(RetryPolicy.afterFailure(.error, attempt(canReplay: false)), .fail(status: 502),
                       "the body was too large to keep")
    }

    func testNonIdempotentRequestsAreNotRepeatedOnceSent() {
        XCTAssertEqual(RetryPolicy.afterFailure(.error, attempt(idempotent: false)), .fail(status: 502))
        XCTAssertEqual(RetryPolicy.afterFailure(.error, attempt(sent: false, idempotent: false)), .nextPeer,
                       "a POST that never left may go elsewhere")
        XCTAssertEqual(RetryPolicy.afterFailure(.error, attempt([.error, .nonIdempotent], idempotent: false)),
                       .nextPeer)
    }

    func testNextUpstreamTimeout() {
        XCTAssertEqual(RetryPolicy.afterFailure(.error, attempt(elapsed: 999, timeout: 1000)), .nextPeer)
        XCTAssertEqual(RetryPolicy.afterFailure(.error, attempt(elapsed: 1000, timeout: 1000)), .fail(status: 502))
    }

    /// A pooled connection the upstream had closed: same peer, fresh connection — unless the request may not be
    /// repeated.
    func testReusedConnectionClosedUnderUs() {
        XCTAssertTrue(RetryPolicy.retriesOnFreshConnection(.error, attempt(tries: 0, reused: true)))
        XCTAssertFalse(RetryPolicy.retriesOnFreshConnection(.timeout, attempt(reused: true)),
                       "only a transport error means the connection was stale")
        XCTAssertEqual(RetryPolicy.afterFailure(.timeout, attempt(reused: true)), .nextPeer)
        XCTAssertFalse(RetryPolicy.retriesOnFreshConnection(.error, attempt(idempotent: false, reused: true)))
        XCTAssertEqual(RetryPolicy.afterFailure(.error, attempt(idempotent: false, reused: true)), .fail(status: 502))
        XCTAssertFalse(RetryPolicy.retriesOnFreshConnection(.error, attempt(canReplay: false, reused: true)))
        XCTAssertEqual(RetryPolicy.afterFailure(.error, attempt(canReplay: false, reused: true)), .fail(status: 502))
        XCTAssertTrue(RetryPolicy.retriesOnFreshConnection(.error, attempt(elapsed: 999, timeout: 1000, reused: true)))
        XCTAssertFalse(
            RetryPolicy.retriesOnFreshConnection(.error, attempt(elapsed: 1000, timeout: 1000, reused: true)),
            "proxy_next_upstream_timeout has run out: nginx tests it after giving the try back")
    }

    /// Status retries need a try beyond the current one (nginx: `u->peer.tries > 1`): the last peer's own
    /// answer goes to the client.
    func testStatusRetries() {
        let listed: NextUpstreamConditions = [.error, .http502, .http404]
        XCTAssertTrue(RetryPolicy.retriesStatus(502, conditions: listed, attempt(listed, tries: 2)))
        XCTAssertFalse(RetryPolicy.retriesStatus(502, conditions: listed, attempt(listed, tries: 1)), "last try: pass the 502 on")
        XCTAssertTrue(RetryPolicy.retriesStatus(404, conditions: listed, attempt(listed, tries: 3)))
        XCTAssertFalse(RetryPolicy.retriesStatus(503, conditions: listed, attempt(listed, tries: 3)), "not listed")
        XCTAssertFalse(RetryPolicy.retriesStatus(200, conditions: listed, attempt(listed, tries: 3)))
        XCTAssertFalse(RetryPolicy.retriesStatus(502, conditions: listed, attempt(listed, tries: 3, idempotent: false)))
        XCTAssertFalse(RetryPolicy.retriesStatus(502, conditions: listed, attempt(listed, tries: 3, elapsed: 5, timeout: 5)))
    }
}
