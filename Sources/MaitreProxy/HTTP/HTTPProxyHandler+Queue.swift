import MaitreBalancing
import NIOHTTP1

/// The upstream `queue` as a request lives it: it goes in when no server takes it (or, never having reached a
/// server, when every try failed to connect), comes out when one does, and fails with 502 when the queue is full
/// or its time there is over, as nginx Plus answers.
extension HTTPProxyHandler {
    /// The exchange state has put the request in the `queued` phase: the queue takes it, or refuses it.
    func enqueue(_ exchange: ProxyExchange) {
        guard let queue = runtime.queues[exchange.upstreamIndex] else {
            exchange.state.queueGaveUp()
            failExchange(exchange, status: .badGateway)
            return
        }
        switch queue.enqueue(exchange, firstQueuedAt: exchange.state.firstQueuedAt) {
        case .queued:
            // Body bytes that arrive meanwhile wait in the socket, as when connecting.
            pauseReads()
        case .full:
            exchange.state.queueGaveUp()
            log.log(.error, "no live upstreams and the upstream queue is full while connecting to upstream"
                    + describe(exchange, groupName: true), connection: connectionNumber)
            failExchange(exchange, status: .badGateway)
        case .expired:
            queueTimedOut(exchange)
        }
    }

    /// The queue offers the request a server: true when it left the queue (it has a server, or is over), false
    /// when none can take it yet. Every server may be tried again, as for a new request.
    func queueTurn(_ exchange: ProxyExchange) -> Bool {
        guard exchange === self.exchange, exchange.state.isQueued, context != nil else { return true }
        var selection = runtime.startRequest(
            upstream: exchange.upstreamIndex, client: addresses.clientKey,
            hashKey: exchange.state.balancing.hashKey,
            nextUpstreamTries: exchange.location.settings.proxyNextUpstreamTries)
        guard let peer = runtime.select(upstream: exchange.upstreamIndex, &selection) else { return false }
        exchange.state.leftQueue(balancing: selection)
        startAttempt(exchange, on: peer)
        return true
    }

    /// The request waited in the queue for the whole `timeout` (or came back to it after that).
    func queueTimedOut(_ exchange: ProxyExchange) {
        guard exchange === self.exchange, exchange.state.isQueued else { return }
        exchange.state.queueGaveUp()
        log.log(.error, "upstream queue timed out (110: Connection timed out) while connecting to upstream"
                + describe(exchange), connection: connectionNumber)
        failExchange(exchange, status: .badGateway)
    }
}
