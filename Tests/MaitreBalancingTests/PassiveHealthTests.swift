@testable import MaitreBalancing
import XCTest

/// max_fails / fail_timeout as ngx_http_upstream_get_peer and ngx_http_upstream_free_round_robin_peer implement them.
/// The subject is peer "a"; a `down` second primary keeps the upstream out of nginx's `single` special case without ever
/// being picked.
final class PassiveHealthTests: XCTestCase {
    private let a = PeerID(index: 0)

    private func subject(maxFails: Int = 2, failTimeout: Int64 = 10, weight: Int = 1) -> UpstreamBalancer {
        balancer(.roundRobin, peer("a", weight: weight, maxFails: maxFails, failTimeout: failTimeout), peer("b", down: true))
    }

    /// One request that gets `a` at `now` and ends with `outcome`; returns what release reported.
    private func attempt(_ b: inout UpstreamBalancer, at now: Int64, _ outcome: PeerOutcome) -> Bool {
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        guard let id = b.select(&request, now: now) else {
            XCTFail("a should be selectable at t0+\(now - t0)")
            return false
        }
        XCTAssertEqual(id, a)
        return b.release(id, &request, outcome: outcome, now: now)
    }

    private func isBlocked(_ b: inout UpstreamBalancer, at now: Int64) -> Bool {
        // Ask before selecting: a successful select may be the trial pick, which moves `checked` and so re-blocks the peer.
        let available = b.isAvailable(a, now: now)
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        let blocked = b.select(&request, now: now) == nil
        XCTAssertEqual(blocked, !available)
        return blocked
    }

    func testFailuresAccumulateAcrossSuccessesThenBlockForFailTimeoutInclusive() {
        var b = subject()
        XCTAssertFalse(attempt(&b, at: t0, .failure))
        XCTAssertEqual(b.state(0).fails, 1)
        XCTAssertEqual(b.state(0).accessed, t0)
        XCTAssertEqual(b.state(0).checked, t0)

        // A success within fail_timeout of the failure does not clear it: accessed == checked (no trial pick happened).
        XCTAssertFalse(attempt(&b, at: t0 + 1, .success))
        XCTAssertEqual(b.state(0).fails, 1)

        XCTAssertTrue(attempt(&b, at: t0 + 2, .failure), "second failure reaches max_fails=2")
        XCTAssertEqual(b.state(0).fails, 2)
        for second in Int64(2)...12 {
            XCTAssertTrue(isBlocked(&b, at: t0 + second), "blocked while now - checked <= 10 (t0+\(second))")
        }
        XCTAssertFalse(isBlocked(&b, at: t0 + 13))
    }

    func testTrialPickAfterFailTimeoutAndSuccessClearsFails() {
        var b = subject(maxFails: 1)
        XCTAssertTrue(attempt(&b, at: t0, .failure))
        XCTAssertTrue(isBlocked(&b, at: t0 + 10))

        // The trial pick moves `checked` (now - checked = 11 > 10); success then sees accessed < checked.
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(b.select(&request, now: t0 + 11), a)
        XCTAssertEqual(b.state(0).checked, t0 + 11)
        XCTAssertEqual(b.state(0).fails, 1, "still counted until the trial succeeds")
        b.release(a, &request, outcome: .success, now: t0 + 12)
        XCTAssertEqual(b.state(0).fails, 0)
        XCTAssertFalse(isBlocked(&b, at: t0 + 12))
    }

    func testFailedTrialBlocksForAnotherFailTimeout() {
        var b = subject(maxFails: 1)
        XCTAssertTrue(attempt(&b, at: t0, .failure))
        XCTAssertTrue(attempt(&b, at: t0 + 11, .failure), "the trial fails: reported again")
        XCTAssertEqual(b.state(0).fails, 2)
        XCTAssertEqual(b.state(0).checked, t0 + 11)
        XCTAssertTrue(isBlocked(&b, at: t0 + 21))
        XCTAssertFalse(isBlocked(&b, at: t0 + 22))
    }

    func testTrialPickBlocksOtherRequestsUntilFailTimeoutPassesAgain() {
        var b = subject(maxFails: 1)
        XCTAssertTrue(attempt(&b, at: t0, .failure))
        var trial = b.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(b.select(&trial, now: t0 + 11), a)
        // `checked` moved to t0+11, so the peer is again within fail_timeout for everyone else while the trial runs.
        XCTAssertTrue(isBlocked(&b, at: t0 + 11))
        XCTAssertTrue(isBlocked(&b, at: t0 + 21))
    }

    func testFailureDuringTheTrialKeepsFailsEvenIfTheTrialSucceeds() {
        // A request that got `a` while it was healthy fails after the trial pick: its failure sets accessed = checked, so the
        // trial's success no longer sees accessed < checked.
        var b = subject(maxFails: 1)
        var longRunning = b.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(b.select(&longRunning, now: t0), a)
        XCTAssertTrue(attempt(&b, at: t0, .failure))
        var trial = b.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(b.select(&trial, now: t0 + 11), a)
        XCTAssertTrue(b.release(a, &longRunning, outcome: .failure, now: t0 + 12))
        XCTAssertFalse(b.release(a, &trial, outcome: .success, now: t0 + 12))
        XCTAssertEqual(b.state(0).fails, 2)
        XCTAssertEqual(b.state(0).conns, 0)
        XCTAssertTrue(isBlocked(&b, at: t0 + 22))
        XCTAssertFalse(isBlocked(&b, at: t0 + 23))
    }

    func testMaxFailsZeroCountsButNeverBlocksNorReducesWeight() {
        var b = subject(maxFails: 0, weight: 3)
        for second in Int64(0)..<5 {
            XCTAssertFalse(attempt(&b, at: t0 + second, .failure))
        }
        XCTAssertEqual(b.state(0).fails, 5)
        XCTAssertEqual(b.state(0).effectiveWeight, 3)
        XCTAssertTrue(b.isAvailable(a, now: t0 + 5))
    }

    func testFailureReducesEffectiveWeightByWeightOverMaxFailsFlooredAtZero() {
        var b = subject(maxFails: 2, weight: 5)
        _ = attempt(&b, at: t0, .failure)
        XCTAssertEqual(b.state(0).effectiveWeight, 3, "5 - 5/2")
        // Picking `a` again runs one smooth-WRR pass, which lets effective_weight regain 1 before the next failure.
        _ = attempt(&b, at: t0 + 1, .failure)
        XCTAssertEqual(b.state(0).effectiveWeight, 2, "3 + 1 - 2")

        var c = subject(maxFails: 1, weight: 3)
        _ = attempt(&c, at: t0, .failure)
        XCTAssertEqual(c.state(0).effectiveWeight, 0, "3 - 3/1")
        _ = attempt(&c, at: t0 + 11, .failure)
        XCTAssertEqual(c.state(0).effectiveWeight, 0, "0 + 1 - 3, floored at 0")
    }

    func testEffectiveWeightRampsBackAfterAFailure() {
        // a weight 4 max_fails 2, b weight 1. Request 1 takes a (a 4, b 1, total 5 → a -1) and fails: a.fails = 1 (< 2, still
        // available), a.effective = 4 - 4/2 = 2. Subsequent passes (current weights; effective after the pass):
        //   2: a -1+2=1 (eff 3), b 1+1=2, total 3 → b, b -1
        //   3: a 1+3=4 (eff 4),  b 0,      total 4 → a, a 0
        //   4: a 4, b 1, total 5 → a -1    5: a 3, b 2 → a -2    6: a 2, b 3 → b -2
        //   7: a 6, b -1 → a 1             8: a 5, b 0 → a 0     9: a 4, b 1 → a -1   10: a 3, b 2 → a -2   11: a 2, b 3 → b
        // Without the failure the same peers give a a b a a | a a b a a.
        var b = balancer(.roundRobin, peer("a", weight: 4, maxFails: 2), peer("b"))
        XCTAssertEqual(b.pickOnce(outcome: .failure), "a")
        XCTAssertEqual(b.state(0).effectiveWeight, 2)
        XCTAssertEqual(b.pickOnce(), "b")
        XCTAssertEqual(b.state(0).effectiveWeight, 3)
        XCTAssertEqual(b.pickOnce(), "a")
        XCTAssertEqual(b.state(0).effectiveWeight, 4)
        XCTAssertEqual(b.sequence(8), "aabaaaab")

        var unharmed = balancer(.roundRobin, peer("a", weight: 4, maxFails: 2), peer("b"))
        XCTAssertEqual(unharmed.sequence(10), "aabaaaabaa")
    }

    func testBackupPeersKeepTheirOwnFailureAccounting() {
        var b = balancer(.roundRobin, peer("a", down: true), peer("x", backup: true), peer("y", backup: true))
        XCTAssertEqual(b.pickOnce(outcome: .failure), "x")
        XCTAssertEqual(b.state(1).fails, 1)
        XCTAssertFalse(b.isAvailable(PeerID(index: 1), now: t0))
        XCTAssertEqual(b.sequence(2), "yy")
    }

    func testFailedAttemptFailsOverWithinTheRequest() {
        var b = balancer(.roundRobin, peer("a"), peer("b"), peer("c"))
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        let first = b.select(&request, now: t0)!
        XCTAssertTrue(b.release(first, &request, outcome: .failure, now: t0))
        let second = b.select(&request, now: t0)!
        XCTAssertNotEqual(first, second)
        b.release(second, &request, outcome: .success, now: t0)
        XCTAssertEqual(request.triesLeft, 1)
        XCTAssertEqual(b.state(of: first).fails, 1)
        XCTAssertEqual(b.state(of: second).fails, 0)
    }
}
