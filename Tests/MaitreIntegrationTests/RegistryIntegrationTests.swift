import Dispatch
import MaitreBalancing
import MaitreProxy
import NIOCore
import XCTest

/// The upstream registry on real sockets with two event loops: a drain set at run time reaches both loops, the
/// counters summed over the loops match what the backends saw, and both survive a reload that keeps the peer
/// and reset when a reload changes it.
final class RegistryIntegrationTests: ProxyTestCase {
    private func config(_ servers: String, label: String = "one") -> String {
        """
        worker_processes 2;
        http {
            upstream app { \(servers) }
            server {
                listen 127.0.0.1:PROXY_PORT;
                location / { proxy_pass http://app; }
                location = /which { return 200 "\(label)"; }
            }
        }
        """
    }

    /// The registry's peers by backend address.
    private func peers() throws -> [String: PeerStatus] {
        var out: [String: PeerStatus] = [:]
        for status in try waitBounded(harness!.server.registry.peers()) { out[status.identity.address] = status }
        return out
    }

    /// `count` requests, each on a fresh connection (the server hands connections to the loops in turn).
    private func send(_ count: Int) throws {
        for index in 0..<count {
            XCTAssertEqual(try harness!.get("/", headers: [("Connection", "close")]).status, 200, "request \(index)")
        }
    }

    /// Each loop's `selected`, for one peer.
    private func selectedByLoop(_ status: PeerStatus?) -> [Int] {
        status?.countersByLoop.map(\.selected) ?? []
    }

    func testDrainReachesEveryLoopAndSurvivesOnlyAnUnchangedReload() throws {
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        let c = try TestBackend(name: "c", group: group)
        backends = [a, b, c]
        let both = "server \(a.address); server \(b.address);"
        harness = try ProxyHarness(config(both))

        // Both loops serve, and the summed counters are what the backends saw.
        try send(20)
        var status = try peers()
        XCTAssertEqual(status.count, 2)
        XCTAssertEqual(status[a.address]?.counters.selected, a.requests)
        XCTAssertEqual(status[b.address]?.counters.selected, b.requests)
        XCTAssertEqual(a.requests + b.requests, 20)
        XCTAssertEqual(status[a.address]?.countersByLoop.count, 2)
        for loop in 0..<2 {
            XCTAssertGreaterThan(
                (status[a.address]?.countersByLoop[loop].selected ?? 0)
                    + (status[b.address]?.countersByLoop[loop].selected ?? 0), 0, "loop \(loop) served nothing")
        }

        // Drain a: once every loop has applied it, no new request reaches a on either loop; b takes them all.
        let identityA = try XCTUnwrap(status[a.address]?.identity)
        try waitBounded(harness!.server.registry.setAdminState(.drain, for: identityA))
        let aBefore = a.requests
        let aLoopsBefore = selectedByLoop(status[a.address])
        let bLoopsBefore = selectedByLoop(status[b.address])
        try send(20)
        XCTAssertEqual(a.requests, aBefore, "a drained peer got requests")
        XCTAssertEqual(b.requests, 20 - aBefore + 20)
        status = try peers()
        XCTAssertEqual(status[a.address]?.adminState, .drain)
        XCTAssertEqual(selectedByLoop(status[a.address]), aLoopsBefore)
        for (loop, after) in selectedByLoop(status[b.address]).enumerated() {
            XCTAssertGreaterThan(after, bLoopsBefore[loop], "loop \(loop) sent nothing to b while a drained")
        }
        XCTAssertEqual(status[b.address]?.counters.selected, b.requests)

        // A reload that keeps a (another location changes) keeps its drain and its counters.
        try harness!.reload(config(both, label: "two"))
        XCTAssertEqual(try harness!.get("/which").text, "two")
        try send(10)
        XCTAssertEqual(a.requests, aBefore, "the drain did not survive the reload")
        status = try peers()
        XCTAssertEqual(status[a.address]?.adminState, .drain)
        XCTAssertEqual(status[a.address]?.counters.selected, aBefore, "a's counters were reset by the reload")
        XCTAssertEqual(status[b.address]?.counters.selected, b.requests, "b's counters lost requests over the reload")

        // A reload that changes a's `down` flag resets its admin state to the configuration's: down, then up.
        try harness!.reload(config("server \(a.address) down; server \(b.address);", label: "three"))
        XCTAssertEqual(try harness!.get("/which").text, "three")
        XCTAssertEqual(try peers()[a.address]?.adminState, .down)
        try harness!.reload(config(both, label: "four"))
        XCTAssertEqual(try harness!.get("/which").text, "four")
        XCTAssertEqual(try peers()[a.address]?.adminState, .up)
        try send(10)
        XCTAssertGreaterThan(a.requests, aBefore, "a stayed out after the reload made it up")
        status = try peers()
        XCTAssertEqual(status[a.address]?.counters.selected, a.requests, "a's counters did not carry over")

        // A reload that replaces a's server entry (another address) drops a's record; the new peer starts fresh.
        try waitBounded(harness!.server.registry.setAdminState(.drain, for: identityA))
        try harness!.reload(config("server \(c.address); server \(b.address);", label: "five"))
        XCTAssertEqual(try harness!.get("/which").text, "five")
        status = try peers()
        XCTAssertNil(status[a.address])
        XCTAssertEqual(status[c.address]?.adminState, .up)
        XCTAssertEqual(status[c.address]?.counters, PeerCounterValues())
        try send(10)
        XCTAssertGreaterThan(c.requests, 0)
        XCTAssertEqual(try peers()[c.address]?.counters.selected, c.requests)
        XCTAssertThrowsError(try harness!.server.registry.setAdminState(.up, for: identityA), "a removed peer changed")
    }

    /// A run-time weight reaches every loop: with b at weight 3 of 4 (a at 1), each loop's next four requests
    /// split 1:3 exactly (smooth round robin restarts its cycle), and a reload that keeps b keeps the weight.
    func testWeightChangeReachesEveryLoopAndSurvivesReload() throws {
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        backends = [a, b]
        let both = "server \(a.address); server \(b.address);"
        harness = try ProxyHarness(config(both))
        let identityB = try XCTUnwrap(try peers()[b.address]?.identity)
        try waitBounded(harness!.server.registry.setWeight(3, for: identityB))
        try send(8)
        XCTAssertEqual(a.requests, 2, "each loop's cycle of 4 gives a one request")
        XCTAssertEqual(b.requests, 6)

        try harness!.reload(config(both, label: "two"))
        XCTAssertEqual(try harness!.get("/which").text, "two")
        XCTAssertEqual(try peers()[b.address]?.weight, 3)
        try send(8)
        XCTAssertEqual(a.requests, 4)
        XCTAssertEqual(b.requests, 12)
        XCTAssertThrowsError(try harness!.server.registry.setWeight(0, for: identityB))
    }
}
