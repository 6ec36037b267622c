@testable import MaitreBalancing
import XCTest

/// `slow_start=TIME` (nginx Plus): a peer that comes back ramps its weight from nothing to its weight over TIME;
/// outside a ramp the selection order is nginx's exactly, weights merely counted in thousandths.
final class SlowStartTests: XCTestCase {
    private let b = PeerID(index: 1)
    private let ms0: Int64 = t0 * 1000

    private func slow(_ name: String, weight: Int = 1, seconds: Int64 = 10, maxFails: Int = 1) -> PeerDescriptor {
        var descriptor = peer(name, weight: weight, maxFails: maxFails)
        descriptor.slowStartMilliseconds = seconds * 1000
        return descriptor
    }

    /// Names of `count` single-attempt requests at `milliseconds` (whole seconds derived from it).
    private func picks(_ bal: inout UpstreamBalancer, _ count: Int, at milliseconds: Int64) -> String {
        (0..<count).map { _ in
            var request = bal.startRequest(client: .other, nextUpstreamTries: 0)
            guard let id = bal.select(&request, now: milliseconds / 1000, nowMilliseconds: milliseconds) else {
                return "-"
            }
            bal.release(id, &request, outcome: .success, now: milliseconds / 1000)
            return bal.peers[id.index].name
        }.joined()
    }

    private func share(of name: Character, in picks: String) -> Double {
        Double(picks.filter { $0 == name }.count) / Double(picks.count)
    }

    func testOutsideARampTheOrderIsNginxs() {
        var plain = balancer(.roundRobin, peer("a", weight: 5), peer("b"), peer("c"))
        var scaled = balancer(.roundRobin, slow("a", weight: 5), peer("b"), slow("c"))
        XCTAssertEqual(picks(&scaled, 14, at: ms0), plain.sequence(14))
        XCTAssertEqual(picks(&scaled, 7, at: ms0), "aabacaa")
    }

    /// b's health check fails and passes again: its share grows with the ramp (weights 1000 against 1000 × f),
    /// and is half once the 10 s are over.
    func testACheckThatPassesAgainRampsThePeerUp() {
        var bal = balancer(.roundRobin, peer("a"), slow("b"))
        bal.setCheckDown(true, for: b)
        XCTAssertEqual(picks(&bal, 10, at: ms0), "aaaaaaaaaa")
        bal.setCheckDown(false, for: b)
        _ = picks(&bal, 1, at: ms0)  // the ramp starts with the first selection that sees b again
        let early = picks(&bal, 100, at: ms0 + 1_000)  // f = 0.1: b's share 0.1 / 1.1
        let middle = picks(&bal, 100, at: ms0 + 5_000)  // f = 0.5: 1/3
        let late = picks(&bal, 100, at: ms0 + 9_000)  // f = 0.9: 0.47
        XCTAssertEqual(share(of: "b", in: early), 0.09, accuracy: 0.03)
        XCTAssertEqual(share(of: "b", in: middle), 0.33, accuracy: 0.03)
        XCTAssertEqual(share(of: "b", in: late), 0.47, accuracy: 0.03)
        XCTAssertEqual(share(of: "b", in: picks(&bal, 100, at: ms0 + 10_000)), 0.5, accuracy: 0.02, "ramp over")
    }

    func testAPeerMaxFailsHadDisabledRampsUpAfterItsTrialSucceeds() {
        var bal = balancer(.roundRobin, peer("a"), slow("b"))
        var request = bal.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(bal.select(&request, now: t0), PeerID(index: 0))
        bal.release(PeerID(index: 0), &request, outcome: .success, now: t0)
        request = bal.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertEqual(bal.select(&request, now: t0), b)
        bal.release(b, &request, outcome: .failure, now: t0)  // max_fails=1: out for fail_timeout (10 s)
        XCTAssertEqual(picks(&bal, 6, at: ms0 + 5_000), "aaaaaa")
        // 11 s later b is tried again; its success brings it back through the ramp.
        let trial = picks(&bal, 4, at: ms0 + 11_000)  // nginx first lets the failed peer's effective weight recover
        XCTAssertTrue(trial.contains("b"), trial)
        let early = picks(&bal, 100, at: ms0 + 12_000)
        XCTAssertLessThan(share(of: "b", in: early), 0.2, "ramping: well under half")
        XCTAssertEqual(share(of: "b", in: picks(&bal, 100, at: ms0 + 22_000)), 0.5, accuracy: 0.02)
    }

    func testAnOperatorBringingThePeerUpRampsIt() {
        var bal = balancer(.roundRobin, peer("a"), slow("b"))
        bal.setAdminState(.down, for: b)
        XCTAssertEqual(picks(&bal, 4, at: ms0), "aaaa")
        bal.setAdminState(.up, for: b)
        _ = picks(&bal, 1, at: ms0)
        XCTAssertLessThan(share(of: "b", in: picks(&bal, 100, at: ms0 + 2_000)), 0.2)
        XCTAssertEqual(share(of: "b", in: picks(&bal, 100, at: ms0 + 10_000)), 0.5, accuracy: 0.02)
    }

    func testAPeerThatNeverLeftDoesNotRamp() {
        var bal = balancer(.roundRobin, peer("a"), slow("b"))
        XCTAssertEqual(share(of: "b", in: picks(&bal, 100, at: ms0)), 0.5, "configured, never down: full weight")
    }

    /// least_conn: idle peers tie at zero connections, and the tie is broken by the ramped weights.
    func testLeastConnBreaksTiesByTheRampedWeight() {
        var bal = balancer(.leastConn, peer("a"), slow("b"))
        bal.setCheckDown(true, for: b)
        bal.setCheckDown(false, for: b)
        _ = picks(&bal, 1, at: ms0)
        XCTAssertEqual(share(of: "b", in: picks(&bal, 100, at: ms0 + 2_500)), 0.2, accuracy: 0.03)
        XCTAssertEqual(share(of: "b", in: picks(&bal, 100, at: ms0 + 10_000)), 0.5, accuracy: 0.02)
    }

    func testIPHashIgnoresSlowStart() {
        var bal = balancer(.ipHash, peer("a"), slow("b"), peer("c"))
        XCTAssertEqual(bal.lists.primary.weightScale, 1)
        bal.setCheckDown(true, for: b)
        bal.setCheckDown(false, for: b)
        XCTAssertEqual(bal.lists.primary.peers[1].ramp, .none)
    }

    /// A reload that keeps the peer keeps its ramp where it was.
    func testAReloadCarriesTheRampOver() {
        let peers = [peer("a"), slow("b")]
        var old = UpstreamBalancer(method: .roundRobin, peers: peers)
        old.setCheckDown(true, for: b)
        old.setCheckDown(false, for: b)
        _ = picks(&old, 1, at: ms0)
        var new = UpstreamBalancer(method: .roundRobin, peers: peers)
        new.inheritState(from: old, carryOver: PeerCarryOver(from: peers, to: peers))
        XCTAssertEqual(new.lists.primary.peers[1].ramp, .since(ms0))
        XCTAssertLessThan(share(of: "b", in: picks(&new, 100, at: ms0 + 2_000)), 0.2)
    }
}
