import Dispatch
import Foundation
import XCTest

/// `max_conns=1` on real sockets: while the only server holds a request, the next one finds no live upstream
/// (502, as nginx answers), and once the first is answered the server takes requests again.
final class MaxConnsIntegrationTests: ProxyTestCase {
    func testSingleServerAtItsLimitAnswers502() throws {
        let backend = try singleBackend(upstreamExtra: "", serverParameters: "max_conns=1")
        let slowDone = DispatchSemaphore(value: 0)
        let slowStatus = NIOLockedBox(0)
        let harness = try XCTUnwrap(self.harness)
        let port = harness.port
        DispatchQueue.global().async {
            let status = (try? TestHTTPClient(port: port, source: nil, timeoutSeconds: 10)
                .request("GET", "/slow/600").status) ?? -1
            slowStatus.set(status)
            slowDone.signal()
        }
        let deadline = Date().addingTimeInterval(5)
        while backend.requests < 1, Date() < deadline { usleep(5_000) }
        XCTAssertEqual(backend.requests, 1, "the slow request reached the backend")
        XCTAssertEqual(try harness.get("/").status, 502, "the server is at max_conns")
        XCTAssertEqual(slowDone.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(slowStatus.get(), 200)
        XCTAssertEqual(try harness.get("/").status, 200, "released, the server takes requests again")
    }
}

/// A value shared with a background queue.
final class NIOLockedBox<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
}
