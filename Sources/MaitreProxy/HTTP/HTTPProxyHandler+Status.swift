import MaitreBalancing
import MaitreConfig
import NIOCore

/// Status pages that need every event loop's figures: the answer is written once they are gathered (the request
/// holds its connection meanwhile, as a proxied one does; pipelined requests wait behind it).
extension HTTPProxyHandler {
    /// The `metrics` page: the peers' counters are read on their loops (the registry's `peers()`), the connection
    /// counts and health verdicts directly.
    func respondMetrics(method: RequestRecord.Method, accept: [String], keepAlive: Bool, isHead: Bool) {
        let openMetrics = MetricsPage.wantsOpenMetrics(accept)
        let contentType = openMetrics ? MetricsPage.openMetricsContentType : MetricsPage.contentType
        func format(_ text: String) -> String { openMetrics ? MetricsPage.openMetrics(text) : text }
        guard method == .get || method == .head else {
            respondLocally(status: .methodNotAllowed, keepAlive: keepAlive, isHead: isHead)
            return
        }
        guard let registry = loop.registry else {
            respondLocally(
                status: .ok, keepAlive: keepAlive, isHead: isHead,
                body: format(MetricsPage.body(connections: loop.statsTable.totals, peers: [],
                                              requests: loop.metricsSnapshot)),
                contentType: contentType)
            return
        }
        var checkDown: [String: Bool] = [:]
        for row in registry.checkStatus().rows { checkDown[row.upstream + " " + row.name] = row.isDown }
        let request = requestsServed
        // Stream upstreams' peers too: their series carry `context="stream"`.
        let sync = loop.stickySync?.readCounters() ?? loop.eventLoop.makeSucceededFuture(StickySyncClient.Counters())
        let figures = registry.peers().and(registry.requestMetrics()).and(registry.peers(of: .stream)).and(sync)
        figures.hop(to: loop.eventLoop).assumeIsolated().whenComplete { [weak self] result in
            // The client may have gone, or the connection moved on: then nobody waits for this page.
            guard let self, self.context != nil, self.requestsServed == request, self.exchange == nil,
                !self.state.isClosing
            else { return }
            let (((httpStatuses, perLoop), streamStatuses), sync) =
                (try? result.get()) ?? ((([], []), []), StickySyncClient.Counters())
            let peers = (httpStatuses + streamStatuses).map { status in
                MetricsPage.Peer(
                    status: status, checkDown: checkDown[status.identity.upstream + " " + status.identity.address])
            }
            self.respondLocally(
                status: .ok, keepAlive: keepAlive, isHead: isHead,
                body: format(MetricsPage.body(
                    connections: self.loop.statsTable.totals, peers: peers, requests: MetricsPage.merge(perLoop),
                    reloads: registry.reloadStatus) + MetricsPage.stickySync(sync)),
                contentType: contentType)
        }
    }
}
