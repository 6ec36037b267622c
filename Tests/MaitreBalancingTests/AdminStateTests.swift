@testable import MaitreBalancing
import XCTest

/// Run-time admin states and weights on one balancer, and the counters it keeps.
final class AdminStateTests: XCTestCase {
    private let a = PeerID(index: 0)
    private let b = PeerID(index: 1)
    private let c = PeerID(index: 2)

    /// A drained or down peer is never selected by any method, and leaves `tries`; back `up`, it is selected again.
    func testDrainAndDownPeersAreNeverSelected() {
        for method in [BalancingMethod.roundRobin, .leastConn, .ipHash] {
            for state in [PeerAdminState.drain, .down] {
                var bal = balancer(method, peer("a"), peer("b"), peer("c"))
                bal.setAdminState(state, for: b)
                XCTAssertEqual(bal.startRequest(client: .other, nextUpstreamTries: 0).triesLeft, 2)
                XCTAssertFalse(bal.isAvailable(b, now: t0))
                for octet in 0..<60 {
                    let name = bal.pickOnce(client: .ipv4(10, UInt8(octet), 7, 1))
                    XCTAssertNotEqual(name, "b", "\(method) selected a peer in \(state)")
                    XCTAssertNotNil(name)
                }
                bal.setAdminState(.up, for: b)
                XCTAssertEqual(bal.startRequest(client: .other, nextUpstreamTries: 0).triesLeft, 3)
                let names = (0..<60).compactMap { bal.pickOnce(client: .ipv4(10, UInt8($0), 9, 1)) }
                XCTAssertTrue(names.contains("b"), "\(method) never selected b once up again")
            }
        }
    }

    /// With every primary drained or down, requests go to the backups, as nginx does for `down` primaries;
    /// with the backups out too, there is no live upstream.
    func testBackupsTakeOverWhenNoPrimaryIsUp() {
        var bal = balancer(.roundRobin, peer("a"), peer("b"), peer("x", backup: true))
        bal.setAdminState(.drain, for: a)
        bal.setAdminState(.down, for: b)
        XCTAssertEqual(bal.sequence(3), "xxx")
        bal.setAdminState(.drain, for: c)
        XCTAssertEqual(bal.sequence(1), "-")
        bal.setAdminState(.up, for: a)
        XCTAssertEqual(bal.sequence(2), "aa")
    }

    /// The `single` peer (one primary, no backup) ignores max_fails but not a drain.
    func testDrainedSinglePeerIsRefused() {
        var bal = balancer(.roundRobin, peer("a"))
        bal.setAdminState(.drain, for: a)
        var request = bal.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(request.triesLeft, 0)
        XCTAssertNil(bal.select(&request, now: t0))
        XCTAssertFalse(bal.isAvailable(a, now: t0))
    }

    /// A request that holds a peer when it is drained releases normally: its connection is uncounted.
    func testRequestInFlightFinishesOnADrainedPeer() {
        var bal = balancer(.roundRobin, peer("a"), peer("b"))
        var request = bal.startRequest(client: .other, nextUpstreamTries: 0)
        let held = bal.select(&request, now: t0)
        XCTAssertEqual(held, a)
        bal.setAdminState(.drain, for: a)
        XCTAssertEqual(bal.state(0).conns, 1)
        bal.release(a, &request, outcome: .success, now: t0)
        XCTAssertEqual(bal.state(0).conns, 0)
        XCTAssertEqual(bal.sequence(3), "bbb")
    }

    /// A new weight restarts the smooth cycle: the next 5 picks with weights 1,3,1 are exactly nginx's "babcb", and
    /// every following 5 have the same 1:3:1 split.
    func testWeightChangeGivesExactSmoothDistribution() {
        var bal = balancer(.roundRobin, peer("a"), peer("b"), peer("c"))
        XCTAssertEqual(bal.sequence(2), "ab")
        bal.setWeight(3, for: b)
        XCTAssertEqual(bal.weight(of: b), 3)
        XCTAssertEqual(bal.sequence(5), "babcb")
        let next = bal.sequence(500)
        XCTAssertEqual(next.filter { $0 == "a" }.count, 100)
        XCTAssertEqual(next.filter { $0 == "b" }.count, 300)
        XCTAssertEqual(next.filter { $0 == "c" }.count, 100)
    }

    /// ip_hash walks the new weights: with b at weight 2 of 4, half of the clients' slots land on b.
    func testWeightChangeMovesIPHashSlots() {
        var bal = balancer(.ipHash, peer("a"), peer("b"), peer("c"))
        bal.setWeight(2, for: b)
        XCTAssertEqual(bal.lists.primary.totalWeight, 4)
        XCTAssertEqual(bal.lists.primary.position(forWeightedSlot: 1), 1)
        XCTAssertEqual(bal.lists.primary.position(forWeightedSlot: 2), 1)
        XCTAssertEqual(bal.lists.primary.position(forWeightedSlot: 3), 2)
    }

    /// Out-of-range weights are clamped rather than trapping or dividing by zero.
    func testWeightIsClamped() {
        var bal = balancer(.roundRobin, peer("a"), peer("b"))
        bal.setWeight(0, for: a)
        XCTAssertEqual(bal.weight(of: a), 1)
        bal.setWeight(.max, for: a)
        XCTAssertEqual(bal.weight(of: a), UpstreamBalancer.maximumWeight)
        bal.setWeight(5, for: PeerID(index: 9))
        XCTAssertEqual(bal.sequence(2).count, 2)
    }

    /// Selections, failed releases and max_fails disables are counted per peer.
    func testCountersCountSelectionsFailuresAndDisables() {
        var bal = balancer(.roundRobin, peer("a", maxFails: 2), peer("b"))
        _ = bal.sequence(4)
        XCTAssertEqual(bal.counters(of: a), PeerCounterValues(selected: 2, failed: 0, disabled: 0))
        _ = bal.pickOnce(outcome: .failure)
        _ = bal.pickOnce(outcome: .failure)
        _ = bal.pickOnce(outcome: .failure)
        XCTAssertEqual(bal.counters(of: a), PeerCounterValues(selected: 4, failed: 2, disabled: 1))
        XCTAssertEqual(bal.counters(of: b), PeerCounterValues(selected: 3, failed: 1, disabled: 1))
    }

    /// Balancers built on the same cells (a reload on one loop) add to the same totals: a request selected on the
    /// old one and released after the reload counts once, and the new one's `conns` do not see it.
    func testBalancersSharingCellsAddToTheSameCounters() {
        let cells = [PeerCounters(), PeerCounters()]
        var old = UpstreamBalancer(method: .roundRobin, peers: [peer("a"), peer("b")], counters: cells)
        var request = old.startRequest(client: .other, nextUpstreamTries: 0)
        let held = old.select(&request, now: t0)
        XCTAssertEqual(held, a)

        var new = UpstreamBalancer(method: .roundRobin, peers: [peer("a"), peer("b")], counters: cells)
        XCTAssertEqual(new.sequence(2), "ab")
        old.release(a, &request, outcome: .failure, now: t0)
        XCTAssertEqual(cells[0].values, PeerCounterValues(selected: 2, failed: 1, disabled: 1))
        XCTAssertEqual(new.state(0).conns, 0)
        XCTAssertEqual(new.state(0).fails, 0, "the old balancer's failure skewed the new one")
    }

    /// Cells that do not match the peers are replaced by fresh ones rather than indexed out of range.
    func testMismatchedCellsAreIgnored() {
        var bal = UpstreamBalancer(method: .roundRobin, peers: [peer("a"), peer("b")], counters: [PeerCounters()])
        XCTAssertEqual(bal.sequence(2), "ab")
        XCTAssertEqual(bal.counters(of: b).selected, 1)
    }
}
