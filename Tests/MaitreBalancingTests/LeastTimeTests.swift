@testable import MaitreBalancing
import XCTest

/// `least_time header|last_byte [inflight]` as nginx 1.31's ngx_http_upstream_least_time_module computes it:
/// 20 ms clusters, a 5 s cap, halving after fail_timeout, per-weight comparison, round robin among ties.
final class OpenSourceLeastTimeTests: XCTestCase {
    private func request(_ b: inout UpstreamBalancer, now: Int64 = t0, ms: Int64 = 0) -> (PeerID, PeerSelectionState)? {
        var selection = b.startRequest(client: .other, nextUpstreamTries: 0)
        guard let peer = b.select(&selection, now: now, nowMilliseconds: ms) else { return nil }
        return (peer, selection)
    }

    /// One request that took `header`/`lastByte` ms, released successfully.
    private func serve(_ b: inout UpstreamBalancer, header: Int64, lastByte: Int64, now: Int64 = t0) -> String {
        guard var (peer, selection) = request(&b, now: now) else { return "-" }
        b.leastTimeFinished(
            peer, &selection, sample: LeastTimeSample(header: header, lastByte: lastByte), elapsed: lastByte, milliseconds: 0)
        b.release(peer, &selection, outcome: .success, now: now)
        return b.peers[peer.index].name
    }

    func testAveragesAreNginxs() {
        XCTAssertEqual(LeastTimeStats.average(0, 100), 100, "the first sample")
        XCTAssertEqual(LeastTimeStats.average(100, 200), 105, "95% old, 5% new, rounded")
        XCTAssertEqual(LeastTimeStats.average(105, 0), 100)
    }

    func testEstimatesClusterCapAndCountConnections() {
        var state = PeerState(peer("a"))
        XCTAssertEqual(LeastTime.eta(state, measure: .header, now: 0), 20, "no data: the first cluster")
        state.leastTime.headerTime = 15
        XCTAssertEqual(LeastTime.eta(state, measure: .header, now: 0), 20, "1 to 19 ms are one cluster")
        state.leastTime.headerTime = 20
        XCTAssertEqual(LeastTime.eta(state, measure: .header, now: 0), 40)
        state.leastTime.responseTime = 9000
        XCTAssertEqual(LeastTime.eta(state, measure: .lastByte, now: 0), 5000, "capped")
        state.conns = 2
        XCTAssertEqual(LeastTime.eta(state, measure: .lastByte, now: 0), 15000, "times one more than the connections")
        state.conns = 0
        state.leastTime.responseTime = 400
        state.checked = 0
        // 23 s after the last check with fail_timeout 10: halved twice (23 / 11 = 2).
        XCTAssertEqual(LeastTime.eta(state, measure: .lastByte, now: 23), 100 + 20)
    }

    func testTheFasterServerGetsTheRequestsAndTiesGoRoundRobin() {
        var b = balancer(.leastTime(.lastByte, inflight: false), peer("a"), peer("b"), peer("c"))
        XCTAssertEqual((0..<3).map { _ in serve(&b, header: 1, lastByte: 1) }.joined(), "abc", "equal: round robin")
        // b answers slowly once: from then on a and c share the requests.
        var slow = balancer(.leastTime(.lastByte, inflight: false), peer("a"), peer("b"), peer("c"))
        XCTAssertEqual(serve(&slow, header: 1, lastByte: 1), "a")
        XCTAssertEqual(serve(&slow, header: 1, lastByte: 300), "b")
        // The ties' round robin keeps the current weights of the three-way ties before (a -1, c 2), so c goes twice
        // first: a 0 c 3 -> c (c 1); a 1 c 2 -> c (c 0); then they alternate.
        XCTAssertEqual((0..<6).map { _ in serve(&slow, header: 1, lastByte: 1) }.joined(), "ccacac")
    }

    func testWeightsScaleTheEstimate() {
        var b = balancer(.leastTime(.lastByte, inflight: false), peer("a", weight: 2), peer("b"))
        // a: 25 ms (cluster 40) at weight 2 equals b: 5 ms (cluster 20) at weight 1; the tie is round robin by weight.
        _ = serve(&b, header: 1, lastByte: 25)
        _ = serve(&b, header: 1, lastByte: 5)
        let names = (0..<6).map { _ in
            guard var (peer, selection) = request(&b) else { return "-" }
            b.release(peer, &selection, outcome: .success, now: t0)
            return b.peers[peer.index].name
        }.joined()
        XCTAssertEqual(names.filter { $0 == "a" }.count, 4, names)
    }

    func testInflightRequestsCountTheirAge() {
        var b = balancer(.leastTime(.header, inflight: true), peer("a"), peer("b"))
        // A request goes to a and stays in flight; b has answered headers in 30 ms (cluster 40).
        guard var (first, held) = request(&b, ms: 0) else { return XCTFail("no peer") }
        XCTAssertEqual(b.peers[first.index].name, "a")
        guard var (second, selection) = request(&b, ms: 0) else { return XCTFail("no peer") }
        XCTAssertEqual(b.peers[second.index].name, "b")
        b.leastTimeReached(.header, second, &selection, value: 30, milliseconds: 30)
        b.leastTimeFinished(
            second, &selection, sample: LeastTimeSample(header: 30, lastByte: 30), elapsed: 30, milliseconds: 30)
        b.release(second, &selection, outcome: .success, now: t0)
        // 500 ms later a's request is still in flight: its age (500 ms) makes a look slow, so b is chosen.
        guard var (third, other) = request(&b, ms: 500) else { return XCTFail("no peer") }
        XCTAssertEqual(b.peers[third.index].name, "b")
        b.release(third, &other, outcome: .success, now: t0)
        b.leastTimeFinished(first, &held, sample: nil, elapsed: 600, milliseconds: 600)
        b.release(first, &held, outcome: .success, now: t0)
        XCTAssertEqual(b.peerState(first).leastTime.inflightRequests, 0)
    }

    func testFailedAttemptsTeachNothingAndBackupsServeLast() {
        var b = balancer(.leastTime(.lastByte, inflight: false), peer("a"), peer("b", backup: true))
        guard var (peer, selection) = request(&b) else { return XCTFail("no peer") }
        b.leastTimeFinished(peer, &selection, sample: nil, elapsed: 900, milliseconds: 0)
        b.release(peer, &selection, outcome: .failure, now: t0)
        XCTAssertEqual(b.peerState(peer).leastTime.responseTime, 0)
        XCTAssertEqual(b.peers[b.select(&selection, now: t0)!.index].name, "b", "the primary failed: the backup")
    }
}
