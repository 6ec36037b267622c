import MaitreConfig
import XCTest

@testable import MaitreProxy

/// What a run-time lookup's outcome does to a `resolve` server's peers and to the next lookup, as nginx's zone
/// module decides (ngx_http_upstream_zone_resolve_handler).
final class LookupOutcomeTests: XCTestCase {
    private let peer = ResolvedPeer(address: ResolvedAddress(ip: "10.0.0.1", port: 80))

    func testAnAnswerReplacesThePeersAndIsLookedUpAgainAfterItsTTLPlusOneSecond() {
        let decision = LookupOutcome.answered([peer], ttlSeconds: 30).decide(name: "a.test", valid: nil, timeout: .seconds(30))
        XCTAssertEqual(decision.peers, [peer])
        XCTAssertEqual(decision.nextLookupMilliseconds, 31_000)
        XCTAssertNil(decision.logged)
    }

    func testValidOverridesTheTTL() {
        let decision = LookupOutcome.answered([peer], ttlSeconds: 3600).decide(name: "a.test", valid: .seconds(5), timeout: .seconds(30))
        XCTAssertEqual(decision.nextLookupMilliseconds, 6_000)
        XCTAssertEqual(LookupOutcome.answered([], ttlSeconds: 0).decide(name: "a", valid: nil, timeout: .seconds(1)).nextLookupMilliseconds,
                       1_000, "a zero TTL: again a second later")
    }

    func testAFailureKeepsThePeersLogsAndRetriesAfterTheTimeoutAtLeastASecond() {
        let decision = LookupOutcome.timedOut.decide(name: "a.test", valid: .seconds(5), timeout: TimeSpan(milliseconds: 300))
        XCTAssertNil(decision.peers, "the last good addresses stay")
        XCTAssertEqual(decision.nextLookupMilliseconds, 1_000)
        XCTAssertEqual(decision.logged, "a.test could not be resolved (110: Operation timed out)")
        XCTAssertNil(LookupOutcome.unlessAnswered(rcode: 0), "NOERROR: the records decide")
        XCTAssertEqual(LookupOutcome.unlessAnswered(rcode: 3), .notFound)
        guard let refusal = LookupOutcome.unlessAnswered(rcode: 5) else { return XCTFail("REFUSED is a failure") }
        let refused = refusal.decide(name: "service http of s.test", valid: nil, timeout: .seconds(30))
        XCTAssertEqual(refused.nextLookupMilliseconds, 30_000)
        XCTAssertEqual(refused.logged, "service http of s.test could not be resolved (5: Operation refused)")
    }

    func testNXDOMAINRemovesThePeersAsNginxDoes() {
        let decision = LookupOutcome.notFound.decide(name: "gone.test", valid: nil, timeout: .seconds(2))
        XCTAssertEqual(decision.peers, [])
        XCTAssertEqual(decision.logged, "gone.test could not be resolved (3: Host not found)")
    }
}
