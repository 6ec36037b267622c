import MaitreConfig
import NIOConcurrencyHelpers
import NIOCore

/// Every `resolve` server of the current configuration, looked up at run time on one event loop. When a lookup
/// changes a server's addresses the service updates `current` and calls `changed`, which has the proxy rebuild
/// the upstream and reconcile it into the registry: no reload, peers that stay keep their state, requests on
/// removed addresses finish. A reload (`sync`) keeps the watchers (and answers) of servers it keeps.
final class ResolutionService: Sendable {
    private let loop: any EventLoop
    private let log: ErrorLog
    private let changeHandler = NIOLockedValueBox<(@Sendable () -> Void)?>(nil)
    /// The answers, read by the proxy (any thread) when it builds a snapshot.
    private let answers = NIOLockedValueBox(ResolvedServers())
    /// The watchers, only touched on `loop` (created elsewhere, hence not a NIOLoopBound).
    private let watchers = WatcherTable()

    private final class WatcherTable: @unchecked Sendable {
        var byKey: [ResolutionKey: NameWatcher] = [:]
        var stopped = false
    }

    init(loop: any EventLoop, log: ErrorLog) {
        self.loop = loop
        self.log = log
    }

    /// What runs (on `loop`) when a lookup changed some server's addresses.
    func onChange(_ handler: @escaping @Sendable () -> Void) {
        changeHandler.withLockedValue { $0 = handler }
    }

    var current: ResolvedServers { answers.withLockedValue { $0 } }

    /// Watches the `resolve` servers of `configuration` from now on: new ones are looked up at once, removed ones
    /// stop (their answers are dropped), kept ones go on.
    func sync(_ configuration: Configuration) {
        var wanted: [ResolutionKey: (ServerResolution, ResolverSetting, TimeSpan)] = [:]
        for upstream in configuration.http?.upstreams ?? [] {
            guard let resolver = upstream.resolver else { continue }
            for server in upstream.servers {
                guard let resolution = server.resolution else { continue }
                wanted[ResolutionKey(upstream: upstream.name, server: server)] =
                    (resolution, resolver, upstream.resolverTimeout)
            }
        }
        let kept = wanted
        answers.withLockedValue { answers in
            answers = answers.filter { kept[$0.key] != nil }
        }
        loop.execute { [self] in
            let wanted = kept
            let table = watchers
            guard !table.stopped else { return }
            for (key, watcher) in table.byKey where wanted[key] == nil {
                watcher.stop()
                table.byKey[key] = nil
            }
            for (key, (resolution, resolver, timeout)) in wanted where table.byKey[key] == nil {
                let watcher = NameWatcher(
                    key: key, resolution: resolution, resolver: resolver, timeout: timeout, loop: loop
                ) { [weak table, self] outcome in
                    guard let table, let watcher = table.byKey[key] else { return }
                    self.record(outcome, of: watcher, valid: resolver.valid, timeout: timeout)
                }
                table.byKey[key] = watcher
                watcher.start()
            }
        }
    }

    /// Stops every lookup (shutdown).
    func stop() {
        loop.execute { [self] in
            let table = watchers
            table.stopped = true
            for watcher in table.byKey.values { watcher.stop() }
            table.byKey.removeAll()
        }
    }

    private func record(_ outcome: LookupOutcome, of watcher: NameWatcher, valid: TimeSpan?, timeout: TimeSpan) {
        let decision = outcome.decide(name: watcher.logName, valid: valid, timeout: timeout)
        if let line = decision.logged { log.log(.error, line) }
        watcher.schedule(in: decision.nextLookupMilliseconds)
        guard var peers = decision.peers else { return }
        // Name servers rotate their answers: the order is not a change.
        peers.sort { ($0.backup ? 1 : 0, $0.name ?? "", $0.address.description) < ($1.backup ? 1 : 0, $1.name ?? "", $1.address.description) }
        let key = watcher.key
        let isChange = answers.withLockedValue { answers -> Bool in
            guard answers[key] != peers else { return false }
            answers[key] = peers
            return true
        }
        if isChange, let handler = changeHandler.withLockedValue({ $0 }) { handler() }
    }
}
