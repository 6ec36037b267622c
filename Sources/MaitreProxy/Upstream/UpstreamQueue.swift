import MaitreBalancing
import MaitreConfig
import NIOCore

/// One upstream's `queue` on one event loop: the thin shell that runs `UpstreamQueueState` on the loop's clock.
/// Requests come in from their handler when no server takes them; they go out on a wake (a peer was released,
/// the registry brought a server back), on the retry tick, or when their time is up. Each request's handler does
/// the selecting (`queueTurn`) and the failing (`queueTimedOut`). Only ever touched on `eventLoop`.
final class UpstreamQueue {
    private var state: UpstreamQueueState<ProxyExchange>
    private let eventLoop: any EventLoop
    private var tick: Scheduled<Void>?
    private var tickDue: Int64?
    private var wakePosted = false
    /// Inside `run`: a turn that wakes the queue again must not let requests out re-entrantly.
    private var running = false

    init(settings: UpstreamQueueSettings, eventLoop: any EventLoop) {
        state = UpstreamQueueState(
            capacity: settings.capacity, timeoutNanoseconds: settings.timeout.milliseconds * 1_000_000)
        self.eventLoop = eventLoop
    }

    private var now: Int64 { Int64(eventLoop.now.uptimeNanoseconds) }

    var count: Int { state.count }

    /// Puts the request at the back; `firstQueuedAt` is when it first entered (its time counts from there).
    func enqueue(_ exchange: ProxyExchange, firstQueuedAt: Int64?) -> UpstreamQueueState<ProxyExchange>.Admission {
        let admission = state.enqueue(exchange, firstQueuedAt: firstQueuedAt, now: now)
        scheduleTick()
        return admission
    }

    /// The request's client went away.
    func remove(_ exchange: ProxyExchange) {
        state.remove(exchange)
        scheduleTick()
    }

    /// Something may have freed a server: let requests out once the current event is handled (never from inside
    /// the release that caused it).
    func wake() {
        guard !state.isEmpty, !wakePosted else { return }
        wakePosted = true
        eventLoop.assumeIsolated().execute { [self] in
            wakePosted = false
            run(onTick: false)
        }
    }

    /// A request that left the queue could not connect.
    func upstreamUnreachable() {
        state.upstreamUnreachable()
    }

    /// A connection to the upstream was made, or a request on it completed.
    func upstreamReached() {
        guard state.isBackingOff else { return }
        state.upstreamReached()
        wake()
    }

    private func run(onTick: Bool) {
        guard !running else { return }
        running = true
        defer {
            running = false
            scheduleTick()
        }
        for expired in state.takeExpired(now: now) {
            expired.handler?.queueTimedOut(expired)
        }
        // Each request waiting now gets at most one turn: one that fails to connect comes back at the end.
        let waiting = state.count
        var dispatched = 0
        while dispatched < waiting, state.mayDispatch(after: dispatched, onTick: onTick), let head = state.takeHead() {
            // A request whose client is gone leaves; one no server can take yet keeps its place, and so do
            // those behind it (they would find none either).
            guard head.request.handler?.queueTurn(head.request) ?? true else {
                state.restoreHead(head)
                break
            }
            dispatched += 1
        }
    }

    /// Keeps one timer, due at the next retry or deadline, while requests wait.
    private func scheduleTick() {
        let now = self.now
        guard let due = state.nextTick(now: now) else {
            tick?.cancel()
            tick = nil
            tickDue = nil
            return
        }
        if let current = tickDue, current <= due, tick != nil { return }
        tick?.cancel()
        tickDue = due
        tick = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(max(0, due - now))) { [weak self] in
            guard let self else { return }
            self.tick = nil
            self.tickDue = nil
            self.run(onTick: true)
        }
    }
}

@available(*, unavailable)
extension UpstreamQueue: Sendable {}
