import XCTest

@testable import MaitreProxy

/// The pool's decisions alone: no sockets, no clock.
final class UpstreamPoolStateTests: XCTestCase {
    final class Conn {
        let name: String
        var live = true
        init(_ name: String) { self.name = name }
    }

    final class Waiter {
        var waiting = true
    }

    typealias Pool = UpstreamPoolState<Conn, Waiter>

    private func park(
        _ pool: inout Pool, _ c: Conn, peer: Int, tag: Int = 0, at now: Int64 = 0
    ) -> Pool.ReleaseAction {
        pool.released(c, peer: peer, tag: tag, now: now, reusable: true, stillWaiting: { $0.waiting })
    }

    func testLeaseTakesMostRecentOfThatPeerOnly() {
        var pool = Pool(capacity: 4)
        let a1 = Conn("a1"), b1 = Conn("b1"), a2 = Conn("a2")
        _ = park(&pool, a1, peer: 0)
        _ = park(&pool, b1, peer: 1)
        _ = park(&pool, a2, peer: 0)
        XCTAssertEqual(pool.lease(peer: 0, tag: 0) { $0.live }.0?.name, "a2")
        XCTAssertEqual(pool.lease(peer: 0, tag: 0) { $0.live }.0?.name, "a1")
        XCTAssertNil(pool.lease(peer: 0, tag: 0) { $0.live }.0)
        XCTAssertEqual(pool.idle.map(\.connection.name), ["b1"])
    }

    func testDeadIdleConnectionsAreHandedBackForClosing() {
        var pool = Pool(capacity: 4)
        let dead = Conn("dead"), live = Conn("live")
        _ = park(&pool, live, peer: 0)
        _ = park(&pool, dead, peer: 0)
        dead.live = false
        let (leased, closed) = pool.lease(peer: 0, tag: 0) { $0.live }
        XCTAssertEqual(leased?.name, "live")
        XCTAssertEqual(closed.map(\.name), ["dead"])
    }

    /// Over capacity within a turn is allowed; one trim is scheduled, and it closes the least recently used.
    func testSurplusIsTrimmedOncePerTurnLeastRecentFirst() {
        var pool = Pool(capacity: 2)
        let conns = (0..<5).map { Conn("c\($0)") }
        var trims = 0
        for c in conns {
            if case .parked(let schedule) = park(&pool, c, peer: 0), schedule { trims += 1 }
        }
        XCTAssertEqual(trims, 1)
        // A request later in the same turn still finds the most recent one.
        XCTAssertEqual(pool.lease(peer: 0, tag: 0) { $0.live }.0?.name, "c4")
        XCTAssertEqual(pool.trim().map(\.name), ["c0", "c1"])
        XCTAssertEqual(pool.idle.map(\.connection.name), ["c2", "c3"])
        XCTAssertEqual(pool.trim().count, 0)
        // The next overflow schedules again.
        if case .parked(let schedule) = park(&pool, Conn("c5"), peer: 0) { XCTAssertTrue(schedule) } else { XCTFail() }
    }

    /// A waiter for the same peer gets the released connection, oldest waiter first; gone waiters are skipped;
    /// waiters for other peers are not served.
    func testReleasedConnectionGoesToTheOldestLiveWaiterOfThatPeer() {
        var pool = Pool(capacity: 2)
        let gone = Waiter(), first = Waiter(), second = Waiter(), other = Waiter()
        gone.waiting = false
        pool.wait(gone, peer: 0, tag: 0)
        pool.wait(first, peer: 0, tag: 0)
        pool.wait(second, peer: 0, tag: 0)
        pool.wait(other, peer: 1, tag: 0)
        guard case .handOver(let w) = park(&pool, Conn("x"), peer: 0) else { return XCTFail("not handed over") }
        XCTAssertTrue(w === first)
        pool.stopWaiting(second, peer: 0)
        guard case .parked = park(&pool, Conn("y"), peer: 0) else { return XCTFail("should park: no waiter left") }
        XCTAssertEqual(pool.waitingCount, 1)
        guard case .handOver(let w2) = park(&pool, Conn("z"), peer: 1) else { return XCTFail() }
        XCTAssertTrue(w2 === other)
    }

    /// A burst (256 clients against `keepalive 32`): hundreds wait at once, some stop waiting (their own connect
    /// completed) out of order, and releases serve the rest strictly oldest first, each exactly once.
    func testBurstOfWaitersIsServedInOrderEachOnce() {
        var pool = Pool(capacity: 32)
        let waiters = (0..<300).map { _ in Waiter() }
        for waiter in waiters { pool.wait(waiter, peer: 0, tag: 0) }
        let stopped = Set(stride(from: 7, to: 300, by: 7))
        for index in stopped.sorted(by: >) {
            waiters[index].waiting = false
            pool.stopWaiting(waiters[index], peer: 0)
        }
        XCTAssertEqual(pool.waitingCount, 300 - stopped.count)
        var served: [Int] = []
        for round in 0..<(300 - stopped.count) {
            guard case .handOver(let taker) = park(&pool, Conn("c\(round)"), peer: 0) else {
                return XCTFail("release \(round) found no waiter")
            }
            guard let index = waiters.firstIndex(where: { $0 === taker }) else { return XCTFail("unknown waiter") }
            taker.waiting = false
            served.append(index)
        }
        XCTAssertEqual(served, (0..<300).filter { !stopped.contains($0) })
        XCTAssertEqual(pool.waitingCount, 0)
        guard case .parked = park(&pool, Conn("last"), peer: 0) else { return XCTFail("nobody waits any more") }
    }

    func testUnreusableOrZeroCapacityCloses() {
        var pool = Pool(capacity: 0)
        guard case .close = park(&pool, Conn("a"), peer: 0) else { return XCTFail() }
        var pool2 = Pool(capacity: 2)
        let action = pool2.released(Conn("b"), peer: 0, tag: 0, now: 0, reusable: false, stillWaiting: { _ in true })
        guard case .close = action else { return XCTFail() }
    }

    func testExpiryTakesOnlyThoseIdleLongEnough() {
        var pool = Pool(capacity: 4)
        _ = park(&pool, Conn("old"), peer: 0, at: 100)
        _ = park(&pool, Conn("new"), peer: 0, at: 900)
        XCTAssertEqual(pool.oldestIdleSince, 100)
        XCTAssertEqual(pool.expire(now: 1_000, idleTimeout: 500).map(\.name), ["old"])
        XCTAssertEqual(pool.oldestIdleSince, 900)
        XCTAssertEqual(pool.removeAll().map(\.connection.name), ["new"])
    }

    /// `keepalive N local`: a connection goes only to requests of the location that released it, whether it is
    /// leased from the idle list or handed to a waiter; a shared pool ignores the tags.
    func testLocalPoolMatchesTags() {
        var pool = Pool(capacity: 4, local: true)
        let fromA = Conn("fromA")
        _ = park(&pool, fromA, peer: 0, tag: 1)
        XCTAssertNil(pool.lease(peer: 0, tag: 2) { $0.live }.0, "another location does not reuse it")
        XCTAssertEqual(pool.lease(peer: 0, tag: 1) { $0.live }.0?.name, "fromA")

        let waiterB = Waiter(), waiterA = Waiter()
        pool.wait(waiterB, peer: 0, tag: 2)
        pool.wait(waiterA, peer: 0, tag: 1)
        guard case .handOver(let got) = park(&pool, fromA, peer: 0, tag: 1) else {
            return XCTFail("the waiting request of the same location gets it")
        }
        XCTAssertTrue(got === waiterA, "the earlier waiter of another location is skipped, not served")
        let fromB = Conn("fromB")
        guard case .handOver(let second) = park(&pool, fromB, peer: 0, tag: 2) else {
            return XCTFail("the skipped waiter is still waiting")
        }
        XCTAssertTrue(second === waiterB)

        var shared = Pool(capacity: 4, local: false)
        _ = park(&shared, Conn("any"), peer: 0, tag: 1)
        XCTAssertEqual(shared.lease(peer: 0, tag: 2) { $0.live }.0?.name, "any")
    }
}
