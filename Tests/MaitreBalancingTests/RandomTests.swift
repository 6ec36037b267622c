#if canImport(Glibc)
import Glibc
#endif
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

/// `random two least_time`: the peak EWMA's arithmetic, and a server that was slow for a moment is avoided at once
/// and given requests again once its average has decayed.
final class LeastTimeTests: XCTestCase {
    func testPeakEWMA() {
        var ewma = PeakEWMA()
        XCTAssertEqual(ewma.value(at: 0), 0)
        ewma.observe(nanoseconds: 100_000_000, at: 1_000)
        XCTAssertEqual(ewma.value(at: 1_000), 100_000_000, "a slower sample replaces the average at once")
        ewma.observe(nanoseconds: 1_000_000, at: 1_001)
        XCTAssertGreaterThan(ewma.value(at: 1_001), 99_000_000, "one fast answer right after barely moves it")
        XCTAssertEqual(ewma.value(at: 11_001) / ewma.value(at: 1_001), exp(-1), accuracy: 1e-9,
                       "reading decays it with a 10 s time constant")
        ewma.observe(nanoseconds: 1_000_000, at: 61_001)
        XCTAssertLessThan(ewma.value(at: 61_001), 2_000_000, "a minute later a fast answer sets it")
    }

    func testASlowMomentIsForgiven() {
        var upstream = UpstreamBalancer(method: .randomTwoLeastTime(lastByte: true), peers: (1...3).map {
            PeerDescriptor(name: "10.0.0.\($0):80", address: "10.0.0.\($0):80")
        })
        upstream.random = SplitMix64(seed: 99)
        func share(at milliseconds: Int64) -> Double {
            var first = 0
            for _ in 0..<900 {
                var request = upstream.startRequest(client: .other, nextUpstreamTries: 0)
                guard let peer = upstream.select(&request, now: milliseconds / 1000) else { continue }
                if peer.index == 0 { first += 1 }
                upstream.release(peer, &request, outcome: .success, now: milliseconds / 1000)
            }
            return Double(first) / 900
        }
        for peer in 1...2 {
            upstream.observeResponse(PeerID(index: peer), headerNanoseconds: 2_000_000, lastByteNanoseconds: 2_000_000,
                                     milliseconds: 0)
        }
        upstream.observeResponse(PeerID(index: 0), headerNanoseconds: 900_000_000, lastByteNanoseconds: 900_000_000,
                                 milliseconds: 0)
        XCTAssertEqual(share(at: 1_000), 0, "right after a 900 ms answer it loses every comparison")
        // Fast peers keep answering fast; the slow one's average decays while it gets nothing.
        for second in stride(from: 1, through: 120, by: 1) {
            for peer in 1...2 {
                upstream.observeResponse(PeerID(index: peer), headerNanoseconds: 2_000_000,
                                         lastByteNanoseconds: 2_000_000, milliseconds: Int64(second) * 1_000)
            }
        }
        XCTAssertGreaterThan(share(at: 120_000), 0.2, "two minutes later it is tried again (not starved)")
    }
}
