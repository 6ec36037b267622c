import MaitreConfig
import MaitreWire
import NIOCore

/// Looks one `resolve` server up again and again, as nginx's zone module does: when the answer's TTL (or the
/// resolver's `valid=`) runs out, or `resolver_timeout` after a failure. A name: A (and AAAA with `ipv6=on`)
/// queries, every address with the server's port. `service=`: an SRV query, then each target's addresses, with
/// the record's port, weight and priority. Each finished lookup is reported with its outcome; a failed one
/// leaves the server's peers as they were. Only touched on `loop`.
final class NameWatcher {
    let key: ResolutionKey
    private let resolution: ServerResolution
    private let resolver: ResolverSetting
    private let timeout: TimeSpan
    private let loop: any EventLoop
    private let servers: [SocketAddress]
    private let report: (LookupOutcome) -> Void
    private var timer: Scheduled<Void>?
    private var stopped = false

    /// `report` runs on `loop` after every lookup.
    init(
        key: ResolutionKey, resolution: ServerResolution, resolver: ResolverSetting, timeout: TimeSpan,
        loop: any EventLoop, report: @escaping (LookupOutcome) -> Void
    ) {
        self.key = key
        self.resolution = resolution
        self.resolver = resolver
        self.timeout = timeout
        self.loop = loop
        self.servers = resolver.servers.compactMap { try? SocketAddress(ipAddress: $0.ip, port: $0.port) }
        self.report = report
    }

    /// What the error log calls this lookup.
    var logName: String {
        resolution.service.map { "service \($0) of \(resolution.host)" } ?? resolution.host
    }

    func start() {
        lookUp()
    }

    func stop() {
        stopped = true
        timer?.cancel()
        timer = nil
    }

    /// Looks again in `milliseconds`.
    func schedule(in milliseconds: Int64) {
        guard !stopped else { return }
        timer?.cancel()
        timer = loop.assumeIsolated().scheduleTask(in: .milliseconds(milliseconds)) { [weak self] in self?.lookUp() }
    }

    private func lookUp() {
        guard !stopped else { return }
        let lookup: EventLoopFuture<LookupOutcome>
        if let serviceName = resolution.serviceQueryName {
            lookup = services(serviceName)
        } else {
            let port = resolution.port
            lookup = addresses(of: resolution.host).map { outcome in
                guard case .answered(let found, let ttl) = outcome else { return outcome }
                return .answered(found.map { ResolvedPeer(address: ResolvedAddress(ip: $0.address.ip, port: port)) },
                                 ttlSeconds: ttl)
            }
        }
        lookup.assumeIsolated().whenComplete { [weak self] result in
            guard let self, !self.stopped else { return }
            switch result {
            case .success(let outcome): self.report(outcome)
            case .failure: self.report(LookupOutcome.timedOut)
            }
        }
    }

    private func ask(_ name: String, _ type: DNSRecordType) -> EventLoopFuture<DNSResponse> {
        DNSLookup.ask(name, type: type, servers: servers,
                      timeout: .milliseconds(max(1, timeout.milliseconds)), on: loop)
    }

    /// A and AAAA answers of `name` (the families the resolver asks for), port 0.
    private func addresses(of name: String) -> EventLoopFuture<LookupOutcome> {
        var types: [DNSRecordType] = []
        if resolver.ipv4 { types.append(.a) }
        if resolver.ipv6 { types.append(.aaaa) }
        let questions = types.map { type in ask(name, type).map { (type, $0) } }
        return EventLoopFuture.whenAllComplete(questions, on: loop).map { results in
            var peers: [ResolvedPeer] = []
            var ttl = UInt32.max
            var notFound = false
            for result in results {
                guard case .success(let (type, response)) = result else { return LookupOutcome.timedOut }
                switch LookupOutcome.unlessAnswered(rcode: response.rcode) {
                case nil:
                    let found = response.addresses(for: name, type: type)
                    if !found.addresses.isEmpty { ttl = min(ttl, found.ttl) }
                    peers += found.addresses.map { ResolvedPeer(address: ResolvedAddress(ip: $0.text, port: 0)) }
                case .notFound?:
                    notFound = true
                case let failure?:
                    return failure
                }
            }
            if notFound && peers.isEmpty { return .notFound }
            return .answered(peers, ttlSeconds: ttl == .max ? 0 : ttl)
        }
    }

    /// The SRV records of `serviceName`, then every target's addresses. Records of the lowest priority are
    /// primaries, the others backups; a target that does not resolve is left out (nginx logs it and goes on).
    private func services(_ serviceName: String) -> EventLoopFuture<LookupOutcome> {
        let loop = self.loop
        return ask(serviceName, .srv).assumeIsolated().flatMap { response -> EventLoopFuture<LookupOutcome> in
            if let outcome = LookupOutcome.unlessAnswered(rcode: response.rcode) {
                return loop.makeSucceededFuture(outcome)
            }
            let found = response.services(for: serviceName)
            let lowest = found.records.map(\.priority).min() ?? 0
            let targets = found.records.map { record in
                self.addresses(of: record.target).map { outcome in (record, outcome) }
            }
            return EventLoopFuture.whenAllSucceed(targets, on: loop).map { answers in
                var peers: [ResolvedPeer] = []
                var ttl = found.ttl
                for (record, outcome) in answers {
                    guard case .answered(let addresses, let targetTTL) = outcome else { continue }
                    if !addresses.isEmpty { ttl = min(ttl, targetTTL) }
                    for address in addresses {
                        peers.append(ResolvedPeer(
                            address: ResolvedAddress(ip: address.address.ip, port: Int(record.port)),
                            name: DNSQuery.normalized(record.target), weight: max(1, Int(record.weight)),
                            backup: record.priority != lowest))
                    }
                }
                return .answered(peers, ttlSeconds: ttl)
            }
        }.nonisolated()
    }
}

@available(*, unavailable)
extension NameWatcher: Sendable {}
