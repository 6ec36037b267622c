@testable import MaitreBalancing
import XCTest

/// The active check's verdict (the module's ngx_http_upstream_check_status_update) and how balancers honour it.
final class HealthCheckStateTests: XCTestCase {
    private let a = PeerID(index: 0)
    private let b = PeerID(index: 1)

    func testDefaultDownNeedsRiseConsecutiveSuccesses() {
        var state = HealthCheckState(rise: 2, fall: 3, defaultDown: true)
        XCTAssertTrue(state.isDown, "default_down=true: no traffic before the first successes")
        XCTAssertNil(state.record(success: true))
        XCTAssertNil(state.record(success: false), "a failure resets the rise streak")
        XCTAssertNil(state.record(success: true))
        XCTAssertEqual(state.record(success: true), .cameUp)
        XCTAssertFalse(state.isDown)
        XCTAssertEqual(state.riseCount, 2)
        XCTAssertNil(state.record(success: true), "already up: no second transition")
        XCTAssertEqual(state.riseCount, 3, "the streak keeps counting, as the status page shows it")
        XCTAssertEqual(state.checks, 5)
    }

    func testFallConsecutiveFailuresTakeItDown() {
        var state = HealthCheckState(rise: 2, fall: 3, defaultDown: false)
        XCTAssertFalse(state.isDown)
        XCTAssertNil(state.record(success: false))
        XCTAssertNil(state.record(success: false))
        XCTAssertNil(state.record(success: true), "a success resets the fall streak")
        XCTAssertEqual(state.fallCount, 0)
        XCTAssertNil(state.record(success: false))
        XCTAssertNil(state.record(success: false))
        XCTAssertEqual(state.record(success: false), .wentDown)
        XCTAssertTrue(state.isDown)
        XCTAssertEqual(state.riseCount, 0)
    }

    func testRiseAndFallOfOne() {
        var state = HealthCheckState(rise: 1, fall: 1, defaultDown: true)
        XCTAssertEqual(state.record(success: true), .cameUp)
        XCTAssertEqual(state.record(success: false), .wentDown)
        XCTAssertEqual(state.record(success: true), .cameUp)
    }

    /// A check-down peer is skipped by every method (the module patches round robin, least_conn and ip_hash), and
    /// still counts in `tries`.
    func testCheckDownPeerIsNeverSelected() {
        for method in [BalancingMethod.roundRobin, .leastConn, .ipHash] {
            var bal = balancer(method, peer("a"), peer("b"))
            bal.setCheckDown(true, for: b)
            XCTAssertTrue(bal.isCheckDown(b))
            XCTAssertEqual(bal.startRequest(client: .other, nextUpstreamTries: 0).triesLeft, 2)
            let names = (0..<40).compactMap { bal.pickOnce(client: .ipv4(10, UInt8($0), 1, 1)) }
            XCTAssertEqual(Set(names), ["a"], "\(method) selected a check-down peer")
            bal.setCheckDown(false, for: b)
            let again = (0..<40).compactMap { bal.pickOnce(client: .ipv4(10, UInt8($0), 1, 1)) }
            XCTAssertTrue(again.contains("b"), "\(method) never selected b once its check passed")
        }
    }

    /// Unlike max_fails, the check applies to a single server too; with every server check-down there is no live
    /// upstream (502), and backups take over first when there are some.
    func testSingleServerAndAllDown() {
        var single = balancer(.roundRobin, peer("a"))
        single.setCheckDown(true, for: a)
        XCTAssertEqual(single.sequence(2), "--")
        XCTAssertFalse(single.isAvailable(a, now: t0))

        var withBackup = balancer(.roundRobin, peer("a"), peer("b"), peer("x", backup: true))
        withBackup.setCheckDown(true, for: a)
        withBackup.setCheckDown(true, for: b)
        XCTAssertEqual(withBackup.sequence(3), "xxx")
        withBackup.setCheckDown(true, for: PeerID(index: 2))
        XCTAssertEqual(withBackup.sequence(1), "-")
    }
}
