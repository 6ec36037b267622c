import XCTest

@testable import MaitreBalancing

/// `hash KEY maglev` (maitred's): even shares, weights, minimal disruption when a server leaves or joins (measured
/// against ketama on the same keys), the walk past unusable peers, and tables that two instances build alike.
final class MaglevTests: XCTestCase {
    private static let keys = (0..<20_000).map { Array("session-\($0)".utf8) }

    private func servers(_ count: Int) -> [PeerDescriptor] {
        (1...count).map { PeerDescriptor(name: "10.0.0.\($0):80", address: "10.0.0.\($0):80") }
    }

    /// Each key's server (by address) under `method`.
    private func mapping(_ method: BalancingMethod, _ peers: [PeerDescriptor]) -> [String] {
        var upstream = UpstreamBalancer(method: method, peers: peers)
        return Self.keys.map { key in
            var request = upstream.startRequest(client: .other, hashKey: key, nextUpstreamTries: 0)
            guard let peer = upstream.select(&request, now: 1) else { return "-" }
            upstream.release(peer, &request, outcome: .success, now: 1)
            return peers[peer.index].address
        }
    }

    private func share(moved before: [String], _ after: [String]) -> Double {
        Double(zip(before, after).filter { $0 != $1 }.count) / Double(before.count)
    }

    func testSlotsAndKeysSplitEvenlyAndByWeight() {
        let even = mapping(.maglev, servers(4))
        for server in Set(even) {
            XCTAssertEqual(Double(even.filter { $0 == server }.count) / 20_000, 0.25, accuracy: 0.02, server)
        }
        var weighted = servers(3)
        weighted[0].weight = 2
        let shares = mapping(.maglev, weighted)
        XCTAssertEqual(Double(shares.filter { $0 == "10.0.0.1:80" }.count) / 20_000, 0.5, accuracy: 0.02)
        XCTAssertEqual(Double(shares.filter { $0 == "10.0.0.2:80" }.count) / 20_000, 0.25, accuracy: 0.02)
    }

    /// Removing one of five servers should move its fifth of the keys and almost nothing else; adding a sixth
    /// should move about a sixth. The same keys under ketama, for the docs' comparison.
    func testDisruptionAgainstKetama() {
        let five = servers(5)
        let four = Array(five.dropLast())
        let six = servers(6)
        var report: [String] = []
        for method in [BalancingMethod.maglev, .consistentHash] {
            let base = mapping(method, five)
            let removed = mapping(method, four)
            let added = mapping(method, six)
            let movedOnRemove = share(moved: base, removed)
            let collateral = Double(zip(base, removed).filter { $0.0 != "10.0.0.5:80" && $0.0 != $0.1 }.count) / 20_000
            let movedOnAdd = share(moved: base, added)
            var worst = 0.0
            for server in Set(base) {
                let count = base.filter { $0 == server }.count
                worst = max(worst, abs(Double(count) / 20_000 - 0.2))
            }
            report.append("\(method): largest share off 1/5 by \(Int(worst * 1000)) per mille")
            if method == .maglev { XCTAssertLessThan(worst, 0.02) }
            report.append("\(method): remove 1 of 5 moves \(Int(movedOnRemove * 1000)) per mille (of which "
                          + "\(Int(collateral * 1000)) from live servers), add a 6th moves \(Int(movedOnAdd * 1000))")
            XCTAssertEqual(movedOnRemove, 0.2, accuracy: 0.06, "\(method)")
            XCTAssertLessThan(collateral, 0.05, "\(method): keys of live servers mostly stay")
            XCTAssertEqual(movedOnAdd, 1.0 / 6, accuracy: 0.06, "\(method)")
            // Ketama moves keys only to the new server; Maglev may also shift a few slots between old ones.
            let strayMoves = zip(base, added).filter { $0 != $1 && $1 != "10.0.0.6:80" }.count
            XCTAssertLessThan(Double(strayMoves) / 20_000, method == .maglev ? 0.05 : 0.000_1, "\(method)")
        }
        print(report.joined(separator: "\n"))
    }

    func testWalksPastUnusableServersAndAgreesAcrossInstances() {
        var peers = servers(4)
        let healthy = mapping(.maglev, peers)
        peers[1].down = true
        let degraded = mapping(.maglev, peers)
        for (before, after) in zip(healthy, degraded) {
            if before == "10.0.0.2:80" {
                XCTAssertNotEqual(after, "10.0.0.2:80")
            } else {
                XCTAssertEqual(after, before, "keys of healthy servers stay")
            }
        }
        let others = Set(zip(healthy, degraded).filter { $0.0 == "10.0.0.2:80" }.map(\.1))
        XCTAssertEqual(others.count, 3, "the down server's keys spread over all the others")
        XCTAssertEqual(mapping(.maglev, servers(4)), healthy, "a second table from the same servers agrees")
    }
}
