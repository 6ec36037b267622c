import XCTest

@testable import MaitreBalancing

/// `random` and `random two least_conn` with a seeded generator: shares follow the weights, unusable peers are never
/// drawn, and `two` never picks the more loaded of its two draws.
final class RandomTests: XCTestCase {
    private func balancer(
        _ method: BalancingMethod, weights: [Int], down: Int? = nil, maxFails: Int = 1
    ) -> UpstreamBalancer {
        var upstream = UpstreamBalancer(method: method, peers: weights.enumerated().map { index, weight in
            PeerDescriptor(name: "10.0.0.\(index + 1):80", address: "10.0.0.\(index + 1):80", weight: weight,
                           maxFails: maxFails, down: index == down)
        })
        upstream.random = SplitMix64(seed: 0x5EED)
        return upstream
    }

    private func counts(_ upstream: inout UpstreamBalancer, requests: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: upstream.peers.count)
        for _ in 0..<requests {
            var request = upstream.startRequest(client: .other, nextUpstreamTries: 0)
            guard let peer = upstream.select(&request, now: 1) else { continue }
            counts[peer.index] += 1
            upstream.release(peer, &request, outcome: .success, now: 1)
        }
        return counts
    }

    func testSharesFollowWeightsAndSkipDownPeers() {
        var upstream = balancer(.random, weights: [3, 1, 1, 5], down: 3)
        let shares = counts(&upstream, requests: 10_000).map { Double($0) / 10_000 }
        XCTAssertEqual(shares[0], 0.6, accuracy: 0.03)
        XCTAssertEqual(shares[1], 0.2, accuracy: 0.03)
        XCTAssertEqual(shares[2], 0.2, accuracy: 0.03)
        XCTAssertEqual(shares[3], 0, "a down peer is never drawn")
    }

    func testARetryNeverDrawsATriedPeer() {
        var upstream = balancer(.random, weights: [1, 1, 1], maxFails: 0)  // failures do not take peers out
        for _ in 0..<200 {
            var request = upstream.startRequest(client: .other, nextUpstreamTries: 0)
            guard let first = upstream.select(&request, now: 1) else { return XCTFail("no peer") }
            upstream.release(first, &request, outcome: .failure, now: 1)
            guard let second = upstream.select(&request, now: 1) else { continue }
            XCTAssertNotEqual(first, second)
            upstream.release(second, &request, outcome: .success, now: 1)
        }
    }

    /// Peer 0 holds ten requests: whenever it is one of the two draws, the other (idle) one wins, so it gets none.
    func testTwoChoicesAvoidTheLoadedPeer() {
        var upstream = balancer(.randomTwo, weights: [1, 1, 1])
        upstream.lists.primary.peers[0].conns = 10  // ten requests in flight on it
        XCTAssertEqual(counts(&upstream, requests: 1_000)[0], 0)
        // Plain random gives the loaded peer its third.
        var plain = balancer(.random, weights: [1, 1, 1])
        plain.lists.primary.peers[0].conns = 10
        XCTAssertEqual(Double(counts(&plain, requests: 3_000)[0]) / 3_000, 1.0 / 3, accuracy: 0.04)
        // With equal loads, `two` still spreads by weight.
        var even = balancer(.randomTwo, weights: [2, 1, 1])
        let shares = counts(&even, requests: 4_000).map { Double($0) / 4_000 }
        XCTAssertGreaterThan(shares[0], shares[1])
        XCTAssertGreaterThan(shares[2], 0.1)
    }

    func testFewerThanTwoPrimariesFallBackToRoundRobin() {
        var upstream = balancer(.randomTwo, weights: [1])
        XCTAssertEqual(counts(&upstream, requests: 5), [5])
    }
}
