import MaitreBalancing
import XCTest

/// The upstream queue's bookkeeping: admission (capacity, deadlines that survive a return), order, expiry, the
/// retry tick and the backing off after a request could not connect. Times are nanoseconds.
final class UpstreamQueueStateTests: XCTestCase {
    private final class Request {
        let name: String
        init(_ name: String) { self.name = name }
    }

    private let second: Int64 = 1_000_000_000

    private func makeQueue(capacity: Int = 3, timeoutSeconds: Int64 = 10) -> UpstreamQueueState<Request> {
        UpstreamQueueState(capacity: capacity, timeoutNanoseconds: timeoutSeconds * second,
                           retryIntervalNanoseconds: second / 4)
    }

    func testAdmitsUpToCapacityThenRefuses() {
        var queue = makeQueue(capacity: 2)
        XCTAssertEqual(queue.enqueue(Request("a"), firstQueuedAt: nil, now: 0), .queued(deadline: 10 * second))
        XCTAssertEqual(queue.enqueue(Request("b"), firstQueuedAt: nil, now: second), .queued(deadline: 11 * second))
        XCTAssertEqual(queue.enqueue(Request("c"), firstQueuedAt: nil, now: second), .full)
        XCTAssertEqual(queue.count, 2)
    }

    func testAReturningRequestKeepsItsFirstDeadline() {
        var queue = makeQueue()
        let request = Request("a")
        XCTAssertEqual(queue.enqueue(request, firstQueuedAt: 2 * second, now: 7 * second),
                       .queued(deadline: 12 * second), "the time counts from the first entry, not this one")
        queue.remove(request)
        XCTAssertEqual(queue.enqueue(request, firstQueuedAt: 2 * second, now: 12 * second), .expired,
                       "back exactly at its deadline: its time is over")
        XCTAssertTrue(queue.isEmpty)
    }

    func testHeadOrderAndRestore() {
        var queue = makeQueue()
        let a = Request("a"), b = Request("b")
        _ = queue.enqueue(a, firstQueuedAt: nil, now: 0)
        _ = queue.enqueue(b, firstQueuedAt: nil, now: 0)
        let head = queue.takeHead()
        XCTAssertTrue(head?.request === a)
        XCTAssertTrue(queue.head === b, "while a has its turn b is first")
        _ = queue.enqueue(Request("c"), firstQueuedAt: nil, now: 0)
        XCTAssertEqual(queue.count, 2, "a's place does not count while it has its turn")
        queue.restoreHead(head!)
        XCTAssertTrue(queue.head === a, "no server for a: it keeps its place at the front")
        XCTAssertEqual(queue.count, 3)
        XCTAssertTrue(queue.remove(b))
        XCTAssertFalse(queue.remove(b), "not waiting any more")
    }

    func testExpiryTakesEveryDueRequestInOrder() {
        var queue = makeQueue(timeoutSeconds: 5)
        let a = Request("a"), b = Request("b"), c = Request("c")
        _ = queue.enqueue(a, firstQueuedAt: nil, now: 0)
        _ = queue.enqueue(b, firstQueuedAt: nil, now: 3 * second)
        _ = queue.enqueue(c, firstQueuedAt: 0, now: 4 * second)  // came back: due with a
        XCTAssertTrue(queue.takeExpired(now: 5 * second - 1).isEmpty, "1 ns before the first deadline")
        XCTAssertEqual(queue.takeExpired(now: 5 * second).map(\.name), ["a", "c"])
        XCTAssertEqual(queue.takeExpired(now: 8 * second).map(\.name), ["b"])
        XCTAssertTrue(queue.isEmpty)
    }

    func testNextTickIsTheRetryIntervalOrTheEarliestDeadline() {
        var queue = makeQueue(timeoutSeconds: 1)
        XCTAssertNil(queue.nextTick(now: 0), "nothing waits: no timer")
        _ = queue.enqueue(Request("a"), firstQueuedAt: nil, now: 0)
        XCTAssertEqual(queue.nextTick(now: 0), second / 4)
        XCTAssertEqual(queue.nextTick(now: 900_000_000), second, "the deadline comes before the next retry")
    }

    func testBackingOffLetsOneRequestOutPerTickUntilAConnectionSucceeds() {
        var queue = makeQueue()
        for name in ["a", "b", "c"] { _ = queue.enqueue(Request(name), firstQueuedAt: nil, now: 0) }
        XCTAssertTrue(queue.mayDispatch(after: 0, onTick: false))
        XCTAssertTrue(queue.mayDispatch(after: 2, onTick: false), "servers reachable: all may go")
        queue.upstreamUnreachable()
        XCTAssertFalse(queue.mayDispatch(after: 0, onTick: false), "backing off: wakes let none out")
        XCTAssertTrue(queue.mayDispatch(after: 0, onTick: true), "one per tick tests the server")
        XCTAssertFalse(queue.mayDispatch(after: 1, onTick: true))
        queue.upstreamReached()
        XCTAssertTrue(queue.mayDispatch(after: 1, onTick: false))
        var empty = makeQueue()
        XCTAssertFalse(empty.mayDispatch(after: 0, onTick: true), "nothing waits")
        empty.upstreamUnreachable()
        XCTAssertFalse(empty.mayDispatch(after: 0, onTick: true))
    }

    func testHugeTimeoutsDoNotOverflow() {
        var queue = UpstreamQueueState<Request>(capacity: 1, timeoutNanoseconds: .max)
        XCTAssertEqual(queue.enqueue(Request("a"), firstQueuedAt: nil, now: 5), .queued(deadline: .max))
        XCTAssertEqual(queue.nextTick(now: .max - 1), .max)
    }
}
