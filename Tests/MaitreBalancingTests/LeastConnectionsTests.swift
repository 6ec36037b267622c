@testable import MaitreBalancing
import XCTest

/// least_conn: ngx_http_upstream_get_least_conn_peer.
final class LeastConnectionsTests: XCTestCase {
    /// Takes a peer for a new request and keeps the connection open.
    private func hold(_ b: inout UpstreamBalancer, now: Int64 = t0) -> String {
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        return b.select(&request, now: now).map { b.peers[$0.index].name } ?? "-"
    }

    private func releaseAll(_ b: inout UpstreamBalancer) {
        for index in b.peers.indices {
            for _ in 0..<b.state(index).conns {
                var request = b.startRequest(client: .other, nextUpstreamTries: 0)
                b.release(PeerID(index: index), &request, outcome: .success, now: t0)
            }
        }
    }

    func testFewestConnectionsWinAndTiesGoBySmoothRoundRobin() {
        var b = balancer(.leastConn, peer("a"), peer("b"), peer("c"))
        // 1: all at 0 conns → tie over a,b,c: current 1,1,1 → a, a -= 3 → -2
        // 2: b,c at 0 → tie from b: b 1+1=2, c 1+1=2 → b (first strictly largest), b -= 2 → 0
        // 3: only c at 0 → no tie, weights untouched → c
        XCTAssertEqual([hold(&b), hold(&b), hold(&b)], ["a", "b", "c"])
        XCTAssertEqual([b.state(0).currentWeight, b.state(1).currentWeight, b.state(2).currentWeight], [-2, 0, 2])
        releaseAll(&b)
        // 4: tie over all: a -1, b 1, c 3 → c, c -= 3 → 0
        XCTAssertEqual(hold(&b), "c")
        XCTAssertEqual(b.state(2).currentWeight, 0)
    }

    func testConnectionsAreComparedPerUnitOfWeight() {
        // a weight 3, b weight 1, every connection held. Load compared as conns_p * weight_best < conns_best * weight_p:
        //   a0 b0 tie → WRR a 3, b 1 → a (a -1)      a1 b0: 0*3 < 1*1 → b      a1 b1: 1/3 < 1 → a      a2 b1 → a
        //   a3 b1: 1*3 == 3*1 tie → WRR from a: a -1+3=2, b 1+1=2 → a (a -2)   a4 b1: 3 < 4 → b   a4 b2 → a   a5 b2 → a
        var b = balancer(.leastConn, peer("a", weight: 3), peer("b"))
        XCTAssertEqual((0..<8).map { _ in hold(&b) }.joined(), "abaaabaa")
        XCTAssertEqual([b.state(0).conns, b.state(1).conns], [6, 2])
    }

    func testWithoutHeldConnectionsItFollowsSmoothRoundRobin() {
        var b = balancer(.leastConn, peer("a", weight: 3), peer("b", weight: 2), peer("c"))
        XCTAssertEqual(b.sequence(6), "abacba")
    }

    func testUnavailablePeersAreSkipped() {
        var b = balancer(.leastConn, peer("a"), peer("b", down: true), peer("c"))
        XCTAssertEqual(b.pickOnce(outcome: .failure), "a")
        XCTAssertEqual([hold(&b), hold(&b)], ["c", "c"], "a is blocked, b down: c even with more connections")
    }

    func testRetryExcludesTriedPeers() {
        var b = balancer(.leastConn, peer("a", maxFails: 0), peer("b", maxFails: 0), peer("c", maxFails: 0))
        XCTAssertEqual(b.failoverOrder(), [0, 1, 2])
    }

    func testFallsBackToBackupsLikeRoundRobin() {
        var b = balancer(.leastConn, peer("a"), peer("x", backup: true), peer("y", backup: true))
        XCTAssertEqual(b.pickOnce(outcome: .failure), "a")
        // x0 y0 tie → WRR x 1, y 1 → x (x -1)    x1 y0 → y, untouched    x1 y1 tie → WRR from x: x 0, y 2 → y (y 0)
        XCTAssertEqual([hold(&b), hold(&b), hold(&b)], ["x", "y", "y"])
        XCTAssertEqual(b.failoverOrder(), [1, 2], "x has fewer connections, then y; the backup list has nothing more")
    }

    func testSinglePeerUsesRoundRobinsSingleBranch() {
        var b = balancer(.leastConn, peer("a"))
        XCTAssertEqual(b.pickOnce(outcome: .failure), "a")
        XCTAssertEqual(b.state(0).fails, 0)
        XCTAssertEqual(b.state(0).checked, 0, "the single branch never touches checked")
    }
}
