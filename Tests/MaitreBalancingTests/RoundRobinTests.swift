@testable import MaitreBalancing
import XCTest

/// Smooth weighted round robin, ngx_http_upstream_get_peer, and the list/backup/single/tries logic around it.
final class RoundRobinTests: XCTestCase {
    func testWeights511GiveNginxSmoothSequence() {
        var b = balancer(.roundRobin, peer("a", weight: 5), peer("b"), peer("c"))
        XCTAssertEqual(b.sequence(14), "aabacaaaabacaa")
    }

    func testWeights321GiveNginxSmoothSequence() {
        var b = balancer(.roundRobin, peer("a", weight: 3), peer("b", weight: 2), peer("c"))
        XCTAssertEqual(b.sequence(12), "abacbaabacba")
    }

    func testEqualWeightsRotateInConfigOrder() {
        var b = balancer(.roundRobin, peer("a"), peer("b"), peer("c"))
        XCTAssertEqual(b.sequence(7), "abcabca")
    }

    func testCurrentWeightsAfterOnePick() {
        // 5,1,1: everyone adds its weight (5,1,1; total 7), a wins and pays back 7 → -2,1,1.
        var b = balancer(.roundRobin, peer("a", weight: 5), peer("b"), peer("c"))
        XCTAssertEqual(b.pickOnce(), "a")
        XCTAssertEqual(b.state(0).currentWeight, -2)
        XCTAssertEqual(b.state(1).currentWeight, 1)
        XCTAssertEqual(b.state(2).currentWeight, 1)
    }

    func testDownPeerIsSkippedAndExcludedFromTries() {
        var b = balancer(.roundRobin, peer("a"), peer("b", down: true), peer("c"))
        XCTAssertEqual(b.sequence(4), "acac")
        XCTAssertEqual(b.startRequest(client: .other, nextUpstreamTries: 0).triesLeft, 2)
        XCTAssertFalse(b.isAvailable(PeerID(index: 1), now: t0))
    }

    func testRetryNeverRevisitsATriedPeer() {
        var b = balancer(.roundRobin, peer("a", maxFails: 0), peer("b", maxFails: 0), peer("c", maxFails: 0))
        XCTAssertEqual(b.failoverOrder(), [0, 1, 2])
        // Every peer was tried: a fourth select in the same request finds none, though none is blocked (max_fails=0).
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        for _ in 0..<3 { _ = b.select(&request, now: t0) }
        XCTAssertNil(b.select(&request, now: t0))
        XCTAssertEqual(b.state(0).conns, 1)
    }

    func testSelectCountsConnectionsAndReleaseUncounts() {
        var b = balancer(.roundRobin, peer("a"), peer("b"))
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        let first = b.select(&request, now: t0)!
        XCTAssertEqual(b.state(of: first).conns, 1)
        b.release(first, &request, outcome: .success, now: t0)
        XCTAssertEqual(b.state(of: first).conns, 0)
    }

    // MARK: tries

    func testTriesCountNonDownPrimariesAndBackups() {
        var b = balancer(
            .roundRobin, peer("a"), peer("b", down: true), peer("x", backup: true), peer("c"), peer("y", backup: true, down: true)
        )
        XCTAssertEqual(b.startRequest(client: .other, nextUpstreamTries: 0).triesLeft, 3)
        XCTAssertEqual(b.startRequest(client: .other, nextUpstreamTries: 2).triesLeft, 2)
        XCTAssertEqual(b.startRequest(client: .other, nextUpstreamTries: 5).triesLeft, 3)
    }

    func testEachReleaseSpendsOneTry() {
        var b = balancer(.roundRobin, peer("a", maxFails: 0), peer("b", maxFails: 0), peer("c", maxFails: 0))
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(request.triesLeft, 3)
        let first = b.select(&request, now: t0)!
        XCTAssertEqual(request.triesLeft, 3, "select does not spend a try; nginx's free does")
        b.release(first, &request, outcome: .failure, now: t0)
        XCTAssertEqual(request.triesLeft, 2)
        let second = b.select(&request, now: t0)!
        b.release(second, &request, outcome: .success, now: t0)
        XCTAssertEqual(request.triesLeft, 1)
    }

    func testNextUpstreamTriesCapsFailover() {
        var b = balancer(.roundRobin, peer("a", maxFails: 0), peer("b", maxFails: 0), peer("c", maxFails: 0))
        XCTAssertEqual(b.failoverOrder(nextUpstreamTries: 2), [0, 1])
    }

    // MARK: backup

    func testBackupIsIdleWhilePrimariesAreAvailable() {
        var b = balancer(.roundRobin, peer("a"), peer("x", backup: true), peer("b"))
        XCTAssertEqual(b.sequence(6), "ababab")
    }

    func testBackupTakesOverOnlyWhenAllPrimariesAreUnavailable() {
        var b = balancer(.roundRobin, peer("a"), peer("b"), peer("x", backup: true), peer("y", backup: true))
        XCTAssertEqual(b.pickOnce(outcome: .failure), "a")  // a: fails 1 = max_fails → blocked
        XCTAssertEqual(b.sequence(2), "bb")
        XCTAssertEqual(b.pickOnce(outcome: .failure), "b")  // now both primaries are blocked
        XCTAssertEqual(b.sequence(4), "xyxy")
        // fail_timeout (10s) later the primaries are back and the backups idle again. Both failures cut effective_weight to 0
        // (1 - 1/1); current weights are a -1, b 1 (b alone added 1 and paid back 1 three times). Passes at t0+11:
        //   1: a -1+0=-1, b 1+0=1 (eff → 1 each), total 0 → b (stays 1)   2: a 0, b 2, total 2 → b (0)
        //   3: a 1, b 1 → a, first of the tie (-1)                           4: a 0, b 1... b 2 → b
        XCTAssertEqual(b.sequence(4, now: t0 + 11), "bbab")
    }

    func testRequestSwitchesToBackupsAfterTryingEveryPrimary() {
        var b = balancer(
            .roundRobin, peer("a", maxFails: 0), peer("x", maxFails: 0, backup: true), peer("b", maxFails: 0),
            peer("y", maxFails: 0, backup: true)
        )
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(request.triesLeft, 4)
        var visited: [Int] = []
        while let id = b.select(&request, now: t0) {
            visited.append(id.index)
            b.release(id, &request, outcome: .failure, now: t0)
        }
        XCTAssertEqual(visited, [0, 2, 1, 3], "primaries a, b, then backups x, y (tried reset on the switch)")
        XCTAssertTrue(request.usingBackups)
        XCTAssertEqual(request.triesLeft, 0)
    }

    func testDownPrimariesSendEveryRequestToBackups() {
        var b = balancer(.roundRobin, peer("a", down: true), peer("x", backup: true), peer("y", weight: 2, backup: true))
        XCTAssertEqual(b.sequence(3), "yxy")
    }

    func testNoLiveUpstreamsWhenPrimariesAndBackupsAreUnavailable() {
        var b = balancer(.roundRobin, peer("a", down: true), peer("b", down: true), peer("x", backup: true, down: true))
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(request.triesLeft, 0)
        XCTAssertNil(b.select(&request, now: t0))
    }

    // MARK: single peer

    func testSinglePeerIsNeverMarkedFailedAndEndsTheRequestsTries() {
        var b = balancer(.roundRobin, peer("a"))
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(request.triesLeft, 1)
        let id = b.select(&request, now: t0)!
        XCTAssertFalse(b.release(id, &request, outcome: .failure, now: t0), "never reported disabled")
        XCTAssertEqual(request.triesLeft, 0)
        XCTAssertEqual(b.state(0), PeerLiveState(conns: 0, fails: 0, effectiveWeight: 1, currentWeight: 0, accessed: 0, checked: 0))
        XCTAssertEqual(b.sequence(3), "aaa")
        XCTAssertTrue(b.isAvailable(id, now: t0))
    }

    func testSinglePeerIgnoresTriedAndOnlyDownRefusesIt() {
        var b = balancer(.roundRobin, peer("a"))
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(b.select(&request, now: t0), PeerID(index: 0))
        XCTAssertEqual(b.select(&request, now: t0), PeerID(index: 0), "the single branch does not consult `tried`")

        var down = balancer(.roundRobin, peer("a", down: true))
        var downRequest = down.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(downRequest.triesLeft, 0)
        XCTAssertNil(down.select(&downRequest, now: t0))
    }

    func testOnePrimaryWithABackupIsNotSingle() {
        var b = balancer(.roundRobin, peer("a"), peer("x", backup: true))
        XCTAssertEqual(b.pickOnce(outcome: .failure), "a")
        XCTAssertEqual(b.state(0).fails, 1)
        XCTAssertEqual(b.pickOnce(), "x")
    }

    // MARK: tried bitmap beyond one word

    func testMoreThan64PeersUseTheWideTriedBitmap() {
        let many = (0..<70).map { peer("p\($0)", maxFails: 0) }
        var b = UpstreamBalancer(method: .roundRobin, peers: many)
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        var seen = Set<Int>()
        while let id = b.select(&request, now: t0) {
            XCTAssertTrue(seen.insert(id.index).inserted)
        }
        XCTAssertEqual(seen.count, 70)
    }
}
