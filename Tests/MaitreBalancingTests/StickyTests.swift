@testable import MaitreBalancing
import XCTest

/// Sticky server IDs and selection (nginx 1.29.6: ngx_http_upstream_init_round_robin_sid,
/// ngx_http_upstream_get_rr_peer_by_sid and the methods that consult it).
final class StickyTests: XCTestCase {
    func testMD5AndServerIDsAreNginxs() {
        XCTAssertEqual(MD5.hex([]), "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(MD5.hex(Array(repeating: UInt8(ascii: "a"), count: 200)), "887f30b43b2867f4a9accceee7d16e6c")
        // The SID is the MD5 of the peer's address text: what nginx's sticky cookie holds for that server.
        let plain = PeerDescriptor(name: "app:8080", address: "127.0.0.1:8080")
        XCTAssertEqual(String(decoding: Sticky.serverID(of: plain), as: UTF8.self), "5958c386bf5e9109ac10d2a628645aea")
        var routed = plain
        routed.route = "a1"
        XCTAssertEqual(Sticky.serverID(of: routed), Array("a1".utf8))
    }

    private func pick(_ b: inout UpstreamBalancer, hint: String?, now: Int64 = t0) -> String? {
        var request = b.startRequest(client: .other, nextUpstreamTries: 0)
        if let hint { request.stickyHint = Array(hint.utf8) }
        guard let id = b.select(&request, now: now) else { return nil }
        b.release(id, &request, outcome: .success, now: now)
        return b.peers[id.index].name
    }

    private func sid(_ b: UpstreamBalancer, _ name: String) -> String {
        let index = b.peers.firstIndex { $0.name == name }!
        return String(decoding: b.serverID(of: PeerID(index: index)), as: UTF8.self)
    }

    func testEveryMethodHonoursAnAvailableHint() {
        let methods: [BalancingMethod] = [.roundRobin, .leastConn, .ipHash, .hash, .random, .randomTwo]
        for method in methods {
            var b = balancer(method, peer("a"), peer("b"), peer("c"))
            let target = sid(b, "c")
            XCTAssertEqual((0..<6).map { _ in pick(&b, hint: target) ?? "-" }.joined(), "cccccc", "\(method)")
        }
    }

    func testUnknownDownOrFailedHintsFallBackToTheMethod() {
        var b = balancer(.roundRobin, peer("a"), peer("b"), peer("c", down: true))
        XCTAssertEqual((0..<4).map { _ in pick(&b, hint: "no-such-server") ?? "-" }.joined(), "abab")
        let down = sid(b, "c")
        XCTAssertEqual((0..<2).map { _ in pick(&b, hint: down) ?? "-" }.joined(), "ab", "a down server is not sticky")

        var failing = balancer(.roundRobin, peer("a"), peer("b"))
        var request = failing.startRequest(client: .other, nextUpstreamTries: 0)
        request.stickyHint = Array(sid(failing, "a").utf8)
        let first = failing.select(&request, now: t0)!
        XCTAssertEqual(failing.peers[first.index].name, "a")
        failing.release(first, &request, outcome: .failure, now: t0)
        // The retry of the same request may not pick "a" again (tried), and later requests skip it (max_fails=1).
        XCTAssertEqual(failing.peers[failing.select(&request, now: t0)!.index].name, "b")
        XCTAssertEqual(pick(&failing, hint: sid(failing, "a")), "b")
        XCTAssertEqual(pick(&failing, hint: sid(failing, "a"), now: t0 + 11), "a", "back after fail_timeout")
    }

    func testADrainingServerKeepsItsSessionsOnly() {
        var b = balancer(.roundRobin, peer("a"), peer("b"))
        let a = PeerID(index: 0)
        b.apply(PeerRuntimeSettings(record: PeerRecordID(value: 1), adminState: .drain, weight: 1), to: a)
        XCTAssertEqual(pick(&b, hint: nil), "b")
        XCTAssertEqual(pick(&b, hint: nil), "b", "no new sessions")
        XCTAssertEqual(pick(&b, hint: sid(b, "a")), "a", "an existing session stays")
    }

    /// Round robin keeps counting while sticky requests go to their peer: requests without a hint still spread.
    func testRoundRobinStillSpreadsTheOthers() {
        var b = balancer(.roundRobin, peer("a"), peer("b"), peer("c"))
        let a = sid(b, "a")
        var unhinted: [String] = []
        for _ in 0..<12 {
            XCTAssertEqual(pick(&b, hint: a), "a")
            unhinted.append(pick(&b, hint: nil) ?? "-")
        }
        XCTAssertTrue(unhinted.contains("b") && unhinted.contains("c"), "\(unhinted)")
    }
}

/// `sticky learn`'s table on one loop (ngx_http_upstream_sticky_learn_peer's rules, bounded).
final class StickySessionTableTests: XCTestCase {
    private let s1 = Array("s1".utf8), a = Array("A".utf8), b = Array("B".utf8)

    func testCreateRefreshMoveAndExpire() {
        var table = StickySessionTable(capacity: 10, timeoutMilliseconds: 1000)
        XCTAssertEqual(table.learn(s1, serverID: a, create: false, now: 0), .local, "a refresh of nothing creates nothing")
        XCTAssertNil(table.serverID(of: s1, now: 0))
        XCTAssertEqual(table.learn(s1, serverID: a, create: true, now: 0), .share(serverID: a, lastUsed: 0))
        XCTAssertEqual(table.serverID(of: s1, now: 900), a)
        XCTAssertEqual(table.learn(s1, serverID: a, create: false, now: 50), .local, "a refresh is told at most every tenth")
        XCTAssertEqual(table.learn(s1, serverID: a, create: false, now: 150), .share(serverID: a, lastUsed: 150))
        XCTAssertEqual(table.learn(s1, serverID: b, create: false, now: 160), .share(serverID: b, lastUsed: 160),
                       "moved to another server: told at once")
        XCTAssertEqual(table.serverID(of: s1, now: 1160), b)
        XCTAssertNil(table.serverID(of: s1, now: 1161), "unused for the timeout: gone")
        XCTAssertEqual(table.count, 0)
    }

    func testCapacityDropsTheLeastRecentlyUsed() {
        var table = StickySessionTable(capacity: 10, timeoutMilliseconds: 100_000)
        for index in 0..<10 { _ = table.learn(Array("s\(index)".utf8), serverID: a, create: true, now: Int64(index)) }
        _ = table.learn(Array("s0".utf8), serverID: a, create: false, now: 100)
        _ = table.learn(Array("new".utf8), serverID: b, create: true, now: 101)
        XCTAssertLessThanOrEqual(table.count, 10)
        XCTAssertEqual(table.serverID(of: Array("s0".utf8), now: 102), a, "recently used: kept")
        XCTAssertNil(table.serverID(of: Array("s1".utf8), now: 102), "the oldest went")
        XCTAssertEqual(table.serverID(of: Array("new".utf8), now: 102), b)
    }

    func testAdoptKeepsTheNewerLocalUse() {
        var table = StickySessionTable(capacity: 10, timeoutMilliseconds: 1000)
        table.adopt(s1, serverID: a, lastUsed: 10)
        XCTAssertEqual(table.serverID(of: s1, now: 20), a)
        table.adopt(s1, serverID: b, lastUsed: 30)
        XCTAssertEqual(table.serverID(of: s1, now: 40), b)
    }
}
