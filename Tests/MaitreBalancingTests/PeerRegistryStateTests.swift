@testable import MaitreBalancing
import XCTest

/// The registry's reconcile: which record each peer of a new configuration continues, and what state it keeps.
final class PeerRegistryStateTests: XCTestCase {
    private func list(_ peers: PeerDescriptor..., upstream: String = "app") -> UpstreamPeerList {
        UpstreamPeerList(upstream: upstream, peers: peers)
    }

    private func identity(_ name: String, upstream: String = "app", ordinal: Int = 0) -> PeerIdentity {
        let descriptor = peer(name)
        return PeerIdentity(upstream: upstream, server: descriptor.name, address: descriptor.address, ordinal: ordinal)
    }

    /// A peer that stays (in any order) keeps its record number, its run-time admin state and its run-time weight.
    func testSameIdentityKeepsRecordAndRuntimeState() throws {
        var registry = PeerRegistryState()
        let first = registry.reconcile([list(peer("a"), peer("b"))])
        _ = try registry.setAdminState(.drain, for: identity("a"))
        _ = try registry.setWeight(5, for: identity("b"))

        let second = registry.reconcile([list(peer("b"), peer("a"))])
        XCTAssertEqual(second.removed, [])
        XCTAssertEqual(second.upstreams[0].map(\.record), [first.upstreams[0][1].record, first.upstreams[0][0].record])
        XCTAssertEqual(second.upstreams[0].map(\.adminState), [.up, .drain])
        XCTAssertEqual(second.upstreams[0].map(\.weight), [5, 1])
    }

    /// Removed identities are reported and dropped; an added one gets a new record; one that comes back later is
    /// a new record too, with the state its configuration gives.
    func testRemovedAndAddedPeers() throws {
        var registry = PeerRegistryState()
        let first = registry.reconcile([list(peer("a"), peer("b"))])
        _ = try registry.setAdminState(.drain, for: identity("a"))

        let second = registry.reconcile([list(peer("b"), peer("c"))])
        XCTAssertEqual(second.removed, [first.upstreams[0][0].record])
        XCTAssertEqual(second.upstreams[0][0].record, first.upstreams[0][1].record)
        let newRecord = second.upstreams[0][1]
        XCTAssertFalse(first.upstreams[0].map(\.record).contains(newRecord.record))
        XCTAssertEqual(newRecord.adminState, .up)
        XCTAssertNil(registry.records[identity("a")])

        let third = registry.reconcile([list(peer("a"), peer("b"), peer("c"))])
        XCTAssertEqual(third.removed, [])
        XCTAssertNotEqual(third.upstreams[0][0].record, first.upstreams[0][0].record, "a dropped record came back")
        XCTAssertEqual(third.upstreams[0][0].adminState, .up, "the drain of the removed peer came back")
    }

    /// The configuration's `down` wins only when the reload changes the flag; otherwise the run-time state stays.
    func testConfigDownWinsOnlyWhenItChanges() throws {
        var registry = PeerRegistryState()
        _ = registry.reconcile([list(peer("a"), peer("b"))])
        _ = try registry.setAdminState(.drain, for: identity("a"))

        var result = registry.reconcile([list(peer("a", down: true), peer("b"))])
        XCTAssertEqual(result.upstreams[0][0].adminState, .down, "adding `down` resets the drain")

        _ = try registry.setAdminState(.up, for: identity("a"))
        result = registry.reconcile([list(peer("a", down: true), peer("b"))])
        XCTAssertEqual(result.upstreams[0][0].adminState, .up, "an unchanged `down` overrode the run-time `up`")

        _ = try registry.setAdminState(.drain, for: identity("a"))
        result = registry.reconcile([list(peer("a"), peer("b"))])
        XCTAssertEqual(result.upstreams[0][0].adminState, .up, "removing `down` resets to up")

        _ = try registry.setAdminState(.down, for: identity("a"))
        result = registry.reconcile([list(peer("a", maxFails: 3), peer("b"))])
        XCTAssertEqual(result.upstreams[0][0].adminState, .down, "another parameter's change reset the admin state")
    }

    /// A new peer configured `down` starts down; the rest start up.
    func testNewPeersTakeTheirAdminStateFromConfig() {
        var registry = PeerRegistryState()
        let result = registry.reconcile([list(peer("a", down: true), peer("b"))])
        XCTAssertEqual(result.upstreams[0].map(\.adminState), [.down, .up])
    }

    /// A changed `weight` parameter replaces the run-time weight; any other change keeps it.
    func testConfiguredWeightChangeResetsRuntimeWeight() throws {
        var registry = PeerRegistryState()
        _ = registry.reconcile([list(peer("a", weight: 2))])
        _ = try registry.setWeight(7, for: identity("a"))
        XCTAssertEqual(registry.reconcile([list(peer("a", weight: 2, maxFails: 5))]).upstreams[0][0].weight, 7)
        XCTAssertEqual(registry.reconcile([list(peer("a", weight: 3, maxFails: 5))]).upstreams[0][0].weight, 3)
    }

    /// A re-resolved address is another peer: the old record goes, a new one starts.
    func testChangedAddressIsAnotherPeer() {
        var registry = PeerRegistryState()
        let before = registry.reconcile([list(PeerDescriptor(name: "app.local:80", address: "10.0.0.1:80"))])
        let after = registry.reconcile([list(PeerDescriptor(name: "app.local:80", address: "10.0.0.2:80"))])
        XCTAssertEqual(after.removed, [before.upstreams[0][0].record])
        XCTAssertNotEqual(after.upstreams[0][0].record, before.upstreams[0][0].record)
    }

    /// The same server and address twice are two peers (#0, #1), continued one to one; the same server in two
    /// upstreams is two peers too.
    func testDuplicatesAndUpstreamsAreDistinctIdentities() throws {
        var registry = PeerRegistryState()
        let first = registry.reconcile([list(peer("a"), peer("a")), list(peer("a"), upstream: "other")])
        XCTAssertEqual(Set(first.upstreams.flatMap { $0.map(\.record) }).count, 3)
        XCTAssertNotNil(registry.records[identity("a", ordinal: 1)])
        _ = try registry.setAdminState(.drain, for: identity("a", upstream: "other"))

        let second = registry.reconcile([list(peer("a")), list(peer("a"), upstream: "other")])
        XCTAssertEqual(second.removed, [first.upstreams[0][1].record], "the second duplicate is the one removed")
        XCTAssertEqual(second.upstreams[0][0].adminState, .up, "a drain leaked across upstreams")
        XCTAssertEqual(second.upstreams[1][0].adminState, .drain)
    }

    /// Changes to unknown peers and out-of-range weights are refused without touching any record.
    func testInvalidChangesAreRefused() {
        var registry = PeerRegistryState()
        _ = registry.reconcile([list(peer("a"))])
        XCTAssertThrowsError(try registry.setAdminState(.down, for: identity("z"))) {
            XCTAssertEqual($0 as? PeerRegistryError, .unknownPeer(self.identity("z")))
        }
        XCTAssertThrowsError(try registry.setWeight(0, for: identity("a"))) {
            XCTAssertEqual($0 as? PeerRegistryError, .invalidWeight(0))
        }
        XCTAssertThrowsError(try registry.setWeight(UpstreamBalancer.maximumWeight + 1, for: identity("a")))
        XCTAssertEqual(registry.records[identity("a")]?.weight, 1)
        XCTAssertEqual(registry.records[identity("a")]?.adminState, .up)
    }
}
