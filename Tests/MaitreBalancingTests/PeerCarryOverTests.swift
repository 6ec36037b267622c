@testable import MaitreBalancing
import XCTest

/// Which peers a reload continues, and what state they keep.
final class PeerCarryOverTests: XCTestCase {
    func testUnchangedPeersMatchByIdentityWhateverTheirOrder() {
        let old = [peer("a"), peer("b"), peer("c")]
        let new = [peer("c"), peer("a"), peer("d")]
        XCTAssertEqual(PeerCarryOver(from: old, to: new).previousIndex, [2, 0, nil])
    }

    func testChangedParametersStartFreshUnlessOnlyTheAddressMatters() {
        let old = [peer("a", weight: 1), peer("b", maxFails: 3)]
        let new = [peer("a", weight: 2), peer("b", maxFails: 3)]
        XCTAssertEqual(PeerCarryOver(from: old, to: new).previousIndex, [nil, 1])
        XCTAssertEqual(PeerCarryOver(from: old, to: new, addressOnly: true).previousIndex, [0, 1])
    }

    /// A name resolving to the same address twice gives two peers: each old one is continued at most once.
    func testDuplicatesAreMatchedOneToOne() {
        let old = [peer("a"), peer("a")]
        let new = [peer("a"), peer("a"), peer("a")]
        XCTAssertEqual(PeerCarryOver(from: old, to: new).previousIndex, [0, 1, nil])
    }

    func testFailedPeerStaysFailedAcrossReload() {
        var before = balancer(.roundRobin, peer("a", maxFails: 1, failTimeout: 30), peer("b"))
        var request = before.startRequest(client: .other, nextUpstreamTries: 0)
        let first = before.select(&request, now: t0)
        XCTAssertEqual(first, PeerID(index: 0))
        before.release(PeerID(index: 0), &request, outcome: .failure, now: t0)
        XCTAssertFalse(before.isAvailable(PeerID(index: 0), now: t0 + 1))

        let peers = [peer("b"), peer("a", maxFails: 1, failTimeout: 30)]
        var after = UpstreamBalancer(method: .roundRobin, peers: peers)
        after.inheritState(from: before, carryOver: PeerCarryOver(from: before.peers, to: peers))
        XCTAssertFalse(after.isAvailable(PeerID(index: 1), now: t0 + 1), "the failure was forgotten")
        XCTAssertEqual(after.state(of: PeerID(index: 1)).fails, 1)
        XCTAssertEqual(after.state(of: PeerID(index: 1)).conns, 0, "in-flight counts stay with the old balancer")
        XCTAssertTrue(after.isAvailable(PeerID(index: 1), now: t0 + 31))
        XCTAssertEqual(after.sequence(4, now: t0 + 1), "bbbb")
    }
}
