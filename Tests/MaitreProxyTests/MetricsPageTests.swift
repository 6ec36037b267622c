import MaitreBalancing
import XCTest

@testable import MaitreProxy

/// The metrics page's Prometheus histograms, summed from the status page's finer buckets.
final class MetricsPageTests: XCTestCase {
    func testPrometheusBoundsAreAmongTheFineOnes() {
        for bound in RequestMetrics.bounds {
            XCTAssertTrue(LatencyHistogram.boundsMilliseconds.contains { abs($0 - bound * 1000) < 1e-6 }, "\(bound)")
        }
    }

    func testDerivedHistogram() {
        var histogram = LatencyHistogram()
        for milliseconds in [1.0, 5.0, 25.0, 30.0, 3_000, 90_000] {
            histogram.observe(nanoseconds: Int64(milliseconds * 1_000_000))
        }
        var out = ""
        MetricsPage.histogram(&out, "t", "u=\"a\"", histogram)
        let lines = out.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.prefix(4), [
            "t_bucket{u=\"a\",le=\"0.005\"} 2", "t_bucket{u=\"a\",le=\"0.01\"} 2",
            "t_bucket{u=\"a\",le=\"0.025\"} 3", "t_bucket{u=\"a\",le=\"0.05\"} 4",
        ])
        XCTAssertTrue(lines.contains("t_bucket{u=\"a\",le=\"5.0\"} 5"))
        XCTAssertTrue(lines.contains("t_bucket{u=\"a\",le=\"+Inf\"} 6"))
        XCTAssertTrue(lines.contains("t_sum{u=\"a\"} 93.061"))
        XCTAssertTrue(lines.contains("t_count{u=\"a\"} 6"))
    }
}
