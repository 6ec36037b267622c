import XCTest

@testable import MaitreProxy

/// stub_status's text byte for byte (nginx's ngx_http_stub_status_handler), and waiting as nginx derives it.
final class StubStatusTextTests: XCTestCase {
    func testTheTextIsNginxs() {
        var totals = ConnectionStatsTable.Totals()
        totals.active = 291
        totals.accepted = 16_630_948
        totals.handled = 16_630_948
        totals.requests = 31_070_465
        totals.reading = 6
        totals.writing = 179
        XCTAssertEqual(
            ConnectionStatsTable.stubStatusBody(totals),
            "Active connections: 291 \nserver accepts handled requests\n 16630948 16630948 31070465 \n"
                + "Reading: 6 Writing: 179 Waiting: 106 \n")
    }

    func testPhasesMoveTheCounts() {
        let table = ConnectionStatsTable(loopCount: 2)
        table.loops[0].move(from: .waiting, to: .reading)
        table.loops[0].move(from: .reading, to: .writing)
        table.loops[1].move(from: .waiting, to: .reading)
        table.loops[1].move(from: .reading, to: .reading)
        XCTAssertEqual(table.totals.reading, 1)
        XCTAssertEqual(table.totals.writing, 1)
        table.loops[0].move(from: .writing, to: .waiting)
        XCTAssertEqual(table.totals.writing, 0)
        XCTAssertEqual(table.totals.waiting, 0, "never negative when active lags")
    }
}
