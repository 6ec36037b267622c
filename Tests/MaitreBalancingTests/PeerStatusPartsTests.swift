import XCTest

@testable import MaitreBalancing

/// The pure parts behind the status page and the API: the state file's text, a peer's history, the latency
/// histogram's quantiles.
final class PeerStatusPartsTests: XCTestCase {
    private func list(_ peers: PeerDescriptor...) -> UpstreamPeerList {
        UpstreamPeerList(upstream: "app", peers: peers)
    }

    func testStateFileHoldsOnlyOverridesAndReadsBack() throws {
        var registry = PeerRegistryState()
        _ = registry.reconcile([list(
            PeerDescriptor(name: "10.0.0.1:80", address: "10.0.0.1:80"),
            PeerDescriptor(name: "10.0.0.2:80", address: "10.0.0.2:80", weight: 2),
            PeerDescriptor(name: "10.0.0.3:80", address: "10.0.0.3:80", down: true))])
        XCTAssertEqual(PeerStateFile.overrides(of: registry.sortedRecords), [], "nothing changed at run time")
        let first = PeerIdentity(upstream: "app", server: "10.0.0.1:80", address: "10.0.0.1:80")
        let third = PeerIdentity(upstream: "app", server: "10.0.0.3:80", address: "10.0.0.3:80")
        _ = try registry.setWeight(5, for: first)
        _ = try registry.setAdminState(.drain, for: first)
        _ = try registry.setAdminState(.up, for: third)
        let overrides = PeerStateFile.overrides(of: registry.sortedRecords)
        XCTAssertEqual(overrides, [
            .init(address: "10.0.0.1:80", weight: 5, adminState: .drain),
            .init(address: "10.0.0.3:80", adminState: .up),
        ])
        let text = PeerStateFile.text(upstream: "app", overrides: overrides)
        XCTAssertTrue(text.hasSuffix("server 10.0.0.1:80 weight=5 drain;\nserver 10.0.0.3:80 up;\n"), text)
        XCTAssertEqual(try PeerStateFile.parse(text).get(), overrides)
    }

    func testStateFileRefusesWhatItDoesNotWrite() {
        XCTAssertEqual(PeerStateFile.parse("server 10.0.0.1:80 weight=0;\n"),
                       .failure(.init(line: 1, message: "invalid parameter \"weight=0\"")))
        XCTAssertEqual(PeerStateFile.parse("# c\n\nserver 10.0.0.1:80 drain\n"),
                       .failure(.init(line: 3, message: "missing \";\"")))
        XCTAssertEqual(PeerStateFile.parse("upstream x;\n"),
                       .failure(.init(line: 1, message: "expected \"server ADDRESS ...;\"")))
        XCTAssertEqual(try PeerStateFile.parse("  server 10.0.0.1:80   down ;\r\n").get(),
                       [.init(address: "10.0.0.1:80", adminState: .down)])
    }

    func testHistorySummarisesStreaksAndKeepsBoundedEvents() {
        var history = PeerHistory()
        XCTAssertEqual(history.summary, "not checked yet")
        history.recordProbe(passed: true, reason: nil, transition: nil, at: 1)
        history.recordProbe(passed: true, reason: nil, transition: nil, at: 2)
        XCTAssertEqual(history.summary, "passing (2 checks in a row)")
        for time in 3...7 {
            history.recordProbe(passed: false, reason: "connection refused", transition: time == 7 ? .wentDown : nil,
                                at: Int64(time))
        }
        XCTAssertEqual(history.summary, "5 checks failed: connection refused")
        XCTAssertEqual(history.events, [.init(milliseconds: 7, text: "went down: 5 checks failed: connection refused")])
        XCTAssertEqual([history.checks, history.checkFailures, history.timesUnhealthy], [7, 5, 1])
        XCTAssertEqual(history.lastPassed, false)
        for index in 0..<30 { history.note("event \(index)", at: 100 + Int64(index)) }
        XCTAssertEqual(history.events.count, PeerHistory.capacity)
        XCTAssertEqual(history.events.last?.text, "event 29")
        XCTAssertEqual(history.events.first?.text, "event 10")
    }

    func testLatencyQuantiles() throws {
        var histogram = LatencyHistogram()
        XCTAssertNil(histogram.quantile(0.5))
        for _ in 0..<90 { histogram.observe(nanoseconds: 400_000) }  // 0.4 ms: the (0.25, 0.5] bucket
        for _ in 0..<10 { histogram.observe(nanoseconds: 40_000_000) }  // 40 ms: the (30, 50] bucket
        let p50 = try XCTUnwrap(histogram.quantile(0.5))
        XCTAssertGreaterThan(p50, 0.25)
        XCTAssertLessThanOrEqual(p50, 0.5)
        let p99 = try XCTUnwrap(histogram.quantile(0.99))
        XCTAssertGreaterThan(p99, 30)
        XCTAssertLessThanOrEqual(p99, 50)
        histogram.observe(nanoseconds: 3_600_000_000_000)  // an hour: the overflow bucket
        XCTAssertEqual(histogram.counts.last, 1)
        XCTAssertEqual(histogram.total, 101)
        XCTAssertEqual((histogram + histogram).total, 202)
    }
}
