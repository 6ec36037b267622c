import MaitreBalancing
import MaitreConfig
import XCTest

@testable import MaitreProxy

/// The exchange's machine without sockets: each event in each phase, the actions it returns, the retry decisions
/// it takes through RetryPolicy, and the attempt record it keeps.
final class ExchangeStateTests: XCTestCase {
    final class Connection {
        let name: String
        init(_ name: String) { self.name = name }
    }

    private let peerA = PeerID(index: 0)
    private let peerB = PeerID(index: 1)
    private let ms: Int64 = 1_000_000

    /// A fresh exchange over `peers` servers (tries = peers, as nginx counts them), started at t = 1 s.
    private func exchange(
        peers: Int = 2, conditions: NextUpstreamConditions = .default, timeoutMilliseconds: Int64 = 0,
        idempotent: Bool = true, queues: Bool = false
    ) -> ExchangeState<Connection> {
        var balancer = UpstreamBalancer(
            method: .roundRobin,
            peers: (0..<peers).map { PeerDescriptor(name: "s\($0)", address: "127.0.0.1:\(1000 + $0)") })
        let balancing = balancer.startRequest(client: .other, nextUpstreamTries: 0)
        return ExchangeState(
            balancing: balancing,
            terms: .init(conditions: conditions, timeoutMilliseconds: timeoutMilliseconds, isIdempotent: idempotent,
                         queues: queues),
            startedAt: 1_000 * ms)
    }

    /// The balancer's release of a failed peer: one try fewer.
    private func releaseTry(_ state: inout ExchangeState<Connection>) {
        state.balancing.triesLeft -= 1
    }

    func testPooledConnectionIsSentOnAtOnceAndTheResponseCompletes() throws {
        var state = exchange()
        let pooled = Connection("pooled")
        guard case .send(let connection) = state.peerSelected(peerA, pooled: pooled, now: 1_000 * ms) else {
            return XCTFail("a pooled connection is used at once")
        }
        XCTAssertTrue(connection === pooled)
        XCTAssertTrue(state.requestSent)
        guard case .forward = state.responseHead(status: 200, now: 1_003 * ms) else { return XCTFail() }
        XCTAssertFalse(state.isResponding, "responding only once the head went to the client")
        state.responseHeadForwarded()
        XCTAssertTrue(state.isResponding)
        guard case .complete(let peer, let done) = state.responseEnded(now: 1_010 * ms) else { return XCTFail() }
        XCTAssertEqual(peer, peerA)
        XCTAssertTrue(done === pooled)
        XCTAssertTrue(state.isFinished)
        XCTAssertEqual(state.attempts.all, [record(peerA, status: 200, connect: 0, header: 3, response: 10)])
    }

    func testConnectThenArrival() {
        var state = exchange()
        guard case .connect(let peer) = state.peerSelected(peerA, pooled: nil, now: 1_000 * ms) else {
            return XCTFail()
        }
        XCTAssertEqual(peer, peerA)
        XCTAssertTrue(state.isConnecting(toPeer: 0))
        XCTAssertFalse(state.isConnecting(toPeer: 1))
        XCTAssertFalse(state.requestSent, "nothing went out while connecting")
        let fresh = Connection("fresh")
        guard case .send(let used) = state.connectionArrived(fresh, peerIndex: 0, reused: false, now: 1_002 * ms)
        else { return XCTFail() }
        XCTAssertTrue(used === fresh)
        XCTAssertEqual(state.attempts.last?.connectNanoseconds, 2 * ms)
        // A second connection to the same peer (the pool's hand-over racing the connect) is given back.
        let late = Connection("late")
        guard case .giveBack(let back) = state.connectionArrived(late, peerIndex: 0, reused: true, now: 1_003 * ms)
        else { return XCTFail("only one connection is used") }
        XCTAssertTrue(back === late)
        XCTAssertTrue(state.connection === fresh)
    }

    func testConnectionToAnotherPeerIsGivenBack() {
        var state = exchange()
        _ = state.peerSelected(peerA, pooled: nil, now: 0)
        guard case .giveBack = state.connectionArrived(Connection("b"), peerIndex: 1, reused: true, now: 0) else {
            return XCTFail()
        }
        XCTAssertTrue(state.isConnecting(toPeer: 0))
    }

    func testConnectRefusedMovesToTheNextPeerThenFailsWhenTriesRunOut() {
        var state = exchange()
        _ = state.peerSelected(peerA, pooled: nil, now: 1_000 * ms)
        guard case .releaseFailedPeer(let failed, let closing) = state.attemptFailed(.error, now: 1_001 * ms) else {
            return XCTFail()
        }
        XCTAssertEqual(failed, peerA)
        XCTAssertNil(closing, "no connection was open")
        releaseTry(&state)
        XCTAssertEqual(state.decideAfterRelease(.error, now: 1_001 * ms), .nextPeer)
        _ = state.peerSelected(peerB, pooled: nil, now: 1_001 * ms)
        guard case .releaseFailedPeer(peerB, nil) = state.attemptFailed(.timeout, now: 1_061 * ms) else {
            return XCTFail()
        }
        releaseTry(&state)
        XCTAssertEqual(state.decideAfterRelease(.timeout, now: 1_061 * ms), .fail(status: 504))
        XCTAssertTrue(state.isFinished)
        var refused = record(peerA, status: 502, response: 1)
        refused.failure = .error
        var timedOut = AttemptRecord(peer: peerB, startedAt: 1_001 * ms).with(status: 504, response: 60)
        timedOut.failure = .timeout
        XCTAssertEqual(state.attempts.all, [refused, timedOut], "each failed attempt keeps its reason")
    }

    func testStaleKeepAliveConnectionIsRetriedOnAFreshOneToTheSamePeer() {
        var state = exchange()
        let stale = Connection("stale")
        _ = state.peerSelected(peerA, pooled: stale, now: 1_000 * ms)
        guard case .reconnect(let peer, let closing) = state.attemptFailed(.error, now: 1_000 * ms) else {
            return XCTFail("nginx retries a cached connection's error on a new connection")
        }
        XCTAssertEqual(peer, peerA)
        XCTAssertTrue(closing === stale)
        XCTAssertTrue(state.isConnecting(toPeer: 0))
        XCTAssertEqual(state.attempts.count, 2, "the retry is an attempt of its own, as in $upstream_addr")
        // A fresh connection failing the same way is a real failure.
        _ = state.connectionArrived(Connection("fresh"), peerIndex: 0, reused: false, now: 1_001 * ms)
        guard case .releaseFailedPeer(peerA, _) = state.attemptFailed(.error, now: 1_002 * ms) else {
            return XCTFail()
        }
    }

    func testStaleConnectionWithAPostIsNotRepeated() {
        var state = exchange(idempotent: false)
        _ = state.peerSelected(peerA, pooled: Connection("stale"), now: 0)
        guard case .releaseFailedPeer = state.attemptFailed(.error, now: 0) else { return XCTFail() }
        releaseTry(&state)
        XCTAssertEqual(state.decideAfterRelease(.error, now: 0), .fail(status: 502),
                       "a POST that reached an upstream is not sent again without non_idempotent")
    }

    func testListedStatusIsRefusedWhileATryRemainsThenForwarded() throws {
        var state = exchange(conditions: [.error, .timeout, .http503])
        let first = Connection("first")
        _ = state.peerSelected(peerA, pooled: first, now: 1_000 * ms)
        guard case .refuse(let peer, let closing, let outcome) = state.responseHead(status: 503, now: 1_004 * ms)
        else { return XCTFail("503 is listed and a try remains") }
        XCTAssertEqual(peer, peerA)
        XCTAssertTrue(closing === first)
        XCTAssertEqual(outcome, .failure)
        XCTAssertNil(state.connection)
        releaseTry(&state)
        _ = state.peerSelected(peerB, pooled: Connection("second"), now: 1_004 * ms)
        guard case .forward = state.responseHead(status: 503, now: 1_005 * ms) else {
            return XCTFail("the last try's answer goes to the client, as nginx's does")
        }
        XCTAssertEqual(state.attempts.all.map(\.status), [503, 503])
    }

    func testRefused404DoesNotCountAsAFailure() {
        var state = exchange(conditions: [.http404])
        _ = state.peerSelected(peerA, pooled: Connection("c"), now: 0)
        guard case .refuse(_, _, let outcome) = state.responseHead(status: 404, now: 0) else { return XCTFail() }
        XCTAssertEqual(outcome, .success)
    }

    func testFailureAfterTheResponseStartedCutsOff() {
        var state = exchange()
        let connection = Connection("c")
        _ = state.peerSelected(peerA, pooled: connection, now: 0)
        _ = state.responseHead(status: 200, now: 0)
        state.responseHeadForwarded()
        guard case .cutOff(let peer, let closing) = state.attemptFailed(.error, now: 5 * ms) else {
            return XCTFail("no retry once the client has the head")
        }
        XCTAssertEqual(peer, peerA)
        XCTAssertTrue(closing === connection)
        XCTAssertTrue(state.isFinished)
        guard case .ignore = state.attemptFailed(.error, now: 6 * ms) else { return XCTFail("over is over") }
    }

    func testUnusableHeadFailsAsInvalidHeaderBeforeTheResponseStarts() {
        var state = exchange(conditions: [.error, .invalidHeader])
        _ = state.peerSelected(peerA, pooled: nil, now: 0)
        _ = state.connectionArrived(Connection("c"), peerIndex: 0, reused: false, now: 0)
        _ = state.responseHead(status: 200, now: 0)
        // The handler could not rewrite the head, so it never called responseHeadForwarded.
        guard case .releaseFailedPeer(peerA, _) = state.attemptFailed(.invalidHeader, now: 0) else { return XCTFail() }
        releaseTry(&state)
        XCTAssertEqual(state.decideAfterRelease(.invalidHeader, now: 0), .nextPeer)
    }

    func testNextUpstreamTimeoutStopsRetries() {
        var state = exchange(timeoutMilliseconds: 100)
        _ = state.peerSelected(peerA, pooled: nil, now: 1_000 * ms)
        _ = state.attemptFailed(.error, now: 1_100 * ms)
        releaseTry(&state)
        XCTAssertEqual(state.decideAfterRelease(.error, now: 1_100 * ms), .fail(status: 502),
                       "100 ms after the request started no further attempt is made")
    }

    func testReplayBufferDroppedStopsRetries() {
        var state = exchange()
        _ = state.peerSelected(peerA, pooled: nil, now: 0)
        _ = state.connectionArrived(Connection("c"), peerIndex: 0, reused: false, now: 0)
        state.replayBufferDropped()
        _ = state.attemptFailed(.error, now: 0)
        releaseTry(&state)
        XCTAssertEqual(state.decideAfterRelease(.error, now: 0), .fail(status: 502))
    }

    func testAbandonReturnsWhatIsHeldOnce() {
        var state = exchange()
        let connection = Connection("c")
        _ = state.peerSelected(peerA, pooled: connection, now: 0)
        let held = state.abandon(now: 7 * ms)
        XCTAssertEqual(held.peer, peerA)
        XCTAssertTrue(held.connection === connection)
        XCTAssertEqual(state.attempts.last?.responseNanoseconds, 7 * ms)
        let again = state.abandon(now: 8 * ms)
        XCTAssertNil(again.peer, "a second abandon must not release the peer twice")
        XCTAssertNil(again.connection)
    }

    func testEventsOutOfPhaseAreIgnored() {
        var state = exchange()
        guard case .ignore = state.responseHead(status: 200, now: 0) else { return XCTFail() }
        guard case .ignore = state.responseEnded(now: 0) else { return XCTFail() }
        state.responseHeadForwarded()
        XCTAssertFalse(state.isResponding)
        _ = state.peerSelected(peerA, pooled: nil, now: 0)
        guard case .ignore = state.peerSelected(peerB, pooled: nil, now: 0) else {
            return XCTFail("selecting twice without a failure in between is refused")
        }
        XCTAssertEqual(state.attempts.count, 1)
    }

    private func record(
        _ peer: PeerID, status: Int, connect: Int64 = -1, header: Int64 = -1, response: Int64 = -1
    ) -> AttemptRecord {
        var record = AttemptRecord(peer: peer, startedAt: 1_000 * ms)
        record.status = status
        record.connectNanoseconds = connect < 0 ? -1 : connect * ms
        record.headerNanoseconds = header < 0 ? -1 : header * ms
        record.responseNanoseconds = response < 0 ? -1 : response * ms
        return record
    }

    // MARK: - The upstream queue

    func testNoLivePeerQueuesOnlyWhenTheUpstreamHasAQueue() {
        var plain = exchange()
        XCTAssertFalse(plain.noLivePeer(now: 1_000 * ms), "no queue: \"no live upstreams\", 502")
        XCTAssertTrue(plain.isFinished)

        var queued = exchange(queues: true)
        XCTAssertTrue(queued.noLivePeer(now: 1_500 * ms))
        XCTAssertTrue(queued.isQueued)
        XCTAssertEqual(queued.firstQueuedAt, 1_500 * ms)
        XCTAssertNil(queued.peer)
        guard case .ignore = queued.peerSelected(peerA, pooled: nil, now: 1_600 * ms) else {
            return XCTFail("a queued request selects only once the queue lets it out")
        }
    }

    func testLeavingTheQueueStartsSelectionAfreshAndAReturnKeepsTheFirstEntryTime() {
        var state = exchange(peers: 1, queues: true)
        XCTAssertTrue(state.noLivePeer(now: 1_000 * ms))
        var fresh = state.balancing
        fresh.triesLeft = 1
        state.leftQueue(balancing: fresh)
        XCTAssertFalse(state.isQueued)
        guard case .connect(peerA) = state.peerSelected(peerA, pooled: nil, now: 1_200 * ms) else { return XCTFail() }
        guard case .releaseFailedPeer(peerA, nil) = state.attemptFailed(.error, now: 1_201 * ms) else {
            return XCTFail()
        }
        releaseTry(&state)
        XCTAssertEqual(state.decideAfterRelease(.error, now: 1_201 * ms), .queue,
                       "refused before anything was sent: back to the queue instead of 502")
        XCTAssertEqual(state.firstQueuedAt, 1_000 * ms, "its time there counts from the first entry")
        state.queueGaveUp()
        XCTAssertTrue(state.isFinished)
    }

    func testAFailureAfterSendingDoesNotGoBackToTheQueue() {
        var state = exchange(peers: 1, queues: true)
        _ = state.peerSelected(peerA, pooled: nil, now: 1_000 * ms)
        _ = state.connectionArrived(Connection("c"), peerIndex: 0, reused: false, now: 1_001 * ms)
        guard case .releaseFailedPeer = state.attemptFailed(.timeout, now: 1_061 * ms) else { return XCTFail() }
        releaseTry(&state)
        XCTAssertEqual(state.decideAfterRelease(.timeout, now: 1_061 * ms), .fail(status: 504),
                       "the server had the request: the error goes to the client as nginx sends it")
    }

    func testAPostThatReachedAServerIsNotQueuedAgainButOneThatNeverDidIs() {
        var sent = exchange(idempotent: false, queues: true)
        _ = sent.peerSelected(peerA, pooled: Connection("pooled"), now: 1_000 * ms)
        _ = sent.attemptFailed(.error, now: 1_001 * ms)
        releaseTry(&sent)
        XCTAssertEqual(sent.decideAfterRelease(.error, now: 1_001 * ms), .fail(status: 502))

        var refused = exchange(peers: 1, idempotent: false, queues: true)
        _ = refused.peerSelected(peerA, pooled: nil, now: 1_000 * ms)
        _ = refused.attemptFailed(.error, now: 1_001 * ms)
        releaseTry(&refused)
        XCTAssertEqual(refused.decideAfterRelease(.error, now: 1_001 * ms), .queue, "nothing of the POST was sent")
    }

    func testAbandoningAQueuedRequestReleasesNothing() {
        var state = exchange(queues: true)
        XCTAssertTrue(state.noLivePeer(now: 1_000 * ms))
        let held = state.abandon(now: 1_100 * ms)
        XCTAssertNil(held.peer)
        XCTAssertNil(held.connection)
        XCTAssertTrue(state.isFinished)
    }

}

extension AttemptRecord {
    fileprivate func with(status: Int, response: Int64) -> AttemptRecord {
        var copy = self
        copy.status = status
        copy.responseNanoseconds = response * 1_000_000
        return copy
    }
}
