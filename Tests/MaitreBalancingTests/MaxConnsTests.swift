@testable import MaitreBalancing
import XCTest

/// `max_conns=N` (nginx since 1.11.5): a peer holding N requests is skipped by every method, the single-server
/// case included; with every peer at its limit there is no live upstream.
final class MaxConnsTests: XCTestCase {
    private func limited(_ name: String, _ maxConns: Int) -> PeerDescriptor {
        var descriptor = peer(name)
        descriptor.maxConns = maxConns
        return descriptor
    }

    func testAPeerAtItsLimitIsSkippedUntilARequestReleasesIt() {
        for method in [BalancingMethod.roundRobin, .leastConn, .ipHash] {
            var bal = balancer(method, limited("a", 1), peer("b"))
            // Hold requests open until one lands on a: from then on, nothing else may go there.
            var held: [(PeerID, PeerSelectionState)] = []
            for octet in 0..<20 where !held.contains(where: { $0.0.index == 0 }) {
                var request = bal.startRequest(client: .ipv4(10, UInt8(octet), 2, 3), nextUpstreamTries: 0)
                if let id = bal.select(&request, now: t0) { held.append((id, request)) }
            }
            XCTAssertTrue(held.contains { $0.0.index == 0 }, "\(method) never picked a")
            for octet in 0..<20 {
                XCTAssertEqual(bal.pickOnce(client: .ipv4(10, UInt8(octet), 2, 3)), "b", "\(method) went over max_conns")
            }
            for (id, request) in held {
                var request = request
                bal.release(id, &request, outcome: .success, now: t0)
            }
            let names = (0..<40).compactMap { bal.pickOnce(client: .ipv4(10, UInt8($0), 2, 3)) }
            XCTAssertTrue(names.contains("a"), "\(method) did not use a again once it was released")
        }
    }

    func testSingleServerAndEveryPeerAtTheLimit() {
        var single = balancer(.roundRobin, limited("a", 2))
        var first = single.startRequest(client: .other, nextUpstreamTries: 0)
        var second = single.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertNotNil(single.select(&first, now: t0))
        XCTAssertNotNil(single.select(&second, now: t0))
        XCTAssertEqual(single.sequence(1), "-", "a third request finds no live upstream")

        var pair = balancer(.leastConn, limited("a", 1), limited("b", 1))
        var one = pair.startRequest(client: .other, nextUpstreamTries: 0)
        var two = pair.startRequest(client: .other, nextUpstreamTries: 0)
        XCTAssertNotNil(pair.select(&one, now: t0))
        XCTAssertNotNil(pair.select(&two, now: t0))
        XCTAssertEqual(pair.sequence(1), "-")
    }
}
