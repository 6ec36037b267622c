@testable import MaitreBalancing
import XCTest

/// The registry's side of active checks: which peers get a verdict, what a reload keeps, and what a probe result
/// tells the loops.
final class HealthRegistryTests: XCTestCase {
    private let rules = HealthRules(rise: 2, fall: 2, defaultDown: true, probe: "http port=0")

    private func list(_ peers: PeerDescriptor..., health: HealthRules?) -> UpstreamPeerList {
        UpstreamPeerList(upstream: "app", peers: peers, health: health)
    }

    /// With `check`, every peer but a `down` one has a verdict, starting down (default_down); without, none.
    func testCheckedPeersStartAsDefaultDownSays() throws {
        var registry = PeerRegistryState()
        let peers = registry.reconcile([list(peer("a"), peer("b", down: true), health: rules)])
        XCTAssertEqual(peers.upstreams[0].map(\.checkDown), [true, false])
        let a = try XCTUnwrap(registry.identity(of: peers.upstreams[0][0].record))
        let b = try XCTUnwrap(registry.identity(of: peers.upstreams[0][1].record))
        XCTAssertNotNil(registry.records[a]?.health)
        XCTAssertNil(registry.records[b]?.health, "`down` servers are never probed (the module skips them)")

        var unchecked = PeerRegistryState()
        XCTAssertEqual(unchecked.reconcile([list(peer("a"), health: nil)]).upstreams[0].map(\.checkDown), [false])
        let up = HealthRules(rise: 1, fall: 1, defaultDown: false, probe: "tcp")
        XCTAssertEqual(unchecked.reconcile([list(peer("a"), health: up)]).upstreams[0].map(\.checkDown), [false])
    }

    /// Probe results move the verdict; only a change is reported, with the settings every loop applies.
    func testProbeResultsReportTransitionsOnly() throws {
        var registry = PeerRegistryState()
        let record = registry.reconcile([list(peer("a"), health: rules)]).upstreams[0][0].record
        XCTAssertNil(registry.recordProbe(record, success: true))
        let up = try XCTUnwrap(registry.recordProbe(record, success: true))
        XCTAssertEqual(up.transition, .cameUp)
        XCTAssertEqual(up.settings.checkDown, false)
        XCTAssertEqual(up.settings.record, record)
        XCTAssertNil(registry.recordProbe(record, success: false))
        XCTAssertEqual(registry.recordProbe(record, success: false)?.transition, .wentDown)
        XCTAssertNil(registry.recordProbe(PeerRecordID(value: 999), success: true), "unknown records are ignored")
    }

    /// A reload that keeps the peer and the rules keeps its verdict and streaks; new rules start it over; a peer
    /// that leaves the checked upstream loses its verdict.
    func testReloadKeepsTheVerdictWhileTheRulesStay() throws {
        var registry = PeerRegistryState()
        let record = registry.reconcile([list(peer("a"), peer("b"), health: rules)]).upstreams[0][0].record
        _ = registry.recordProbe(record, success: true)
        _ = registry.recordProbe(record, success: true)

        let same = registry.reconcile([list(peer("a"), peer("b"), health: rules)])
        XCTAssertEqual(same.upstreams[0].map(\.checkDown), [false, true], "a stays up, b stays down")
        let identity = try XCTUnwrap(registry.identity(of: record))
        XCTAssertEqual(registry.records[identity]?.health?.riseCount, 2)

        let stricter = HealthRules(rise: 3, fall: 2, defaultDown: true, probe: "http port=0")
        let changed = registry.reconcile([list(peer("a"), peer("b"), health: stricter)])
        XCTAssertEqual(changed.upstreams[0].map(\.checkDown), [true, true], "new rules: back to default_down")

        let gone = registry.reconcile([list(peer("a"), peer("b"), health: nil)])
        XCTAssertEqual(gone.upstreams[0].map(\.checkDown), [false, false], "no check any more: no verdict")
        XCTAssertNil(registry.records[identity]?.health)
    }
}
