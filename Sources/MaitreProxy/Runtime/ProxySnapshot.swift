import MaitreBalancing
import MaitreConfig
import NIOCore

/// Everything one loaded configuration means to the proxy, frozen and shared read-only by every event loop.
/// A reload builds a new snapshot; connections keep the one they were accepted with.
public final class ProxySnapshot: Sendable {
    public let configuration: Configuration
    let endpoints: [ListenEndpoint: EndpointRoutes]
    /// http's upstreams, then stream's.
    let upstreams: [UpstreamPlan]
    private let upstreamIndexByName: [String: Int]
    private let streamUpstreamIndexByName: [String: Int]
    /// What each stream listener serves.
    let streamEndpoints: [ListenEndpoint: StreamRoute]

    /// The run-time answers this snapshot's `resolve` servers were built with.
    let resolved: ResolvedServers
    /// Some `access_log` format reads `$sent_http_*`: response heads are kept until the request's line is written.
    let logsSentHeaders: Bool

    /// Builds routing tables and upstream plans; throws when an upstream address cannot become a socket address.
    public convenience init(configuration: Configuration) throws {
        try self.init(configuration: configuration, resolved: [:])
    }

    /// The same, with `resolved` giving the peers of `resolve` servers (those without an answer have none).
    init(configuration: Configuration, resolved: ResolvedServers) throws {
        self.resolved = resolved
        self.configuration = configuration
        self.logsSentHeaders = configuration.accessLogs.contains { log in
            log.format.segments.contains { segment in
                if case .variable(.sentHTTPHeader) = segment { return true }
                return false
            } || (log.condition?.parts.contains { part in
                if case .variable(.sentHTTPHeader) = part { return true }
                return false
            } ?? false)
        }
        let http = configuration.http
        var plans: [UpstreamPlan] = []
        var indexByName: [String: Int] = [:]
        for upstream in http?.upstreams ?? [] {
            indexByName[upstream.name] = plans.count
            plans.append(try UpstreamPlan(upstream: upstream, resolved: resolved))
        }
        var streamIndexByName: [String: Int] = [:]
        for upstream in configuration.stream?.upstreams ?? [] {
            streamIndexByName[upstream.name] = plans.count
            plans.append(try UpstreamPlan(upstream: upstream, resolved: resolved))
        }
        self.upstreams = plans
        self.upstreamIndexByName = indexByName
        self.streamUpstreamIndexByName = streamIndexByName
        self.streamEndpoints = try Self.streamRoutes(configuration, upstreamIndex: streamIndexByName)

        var serversByEndpoint: [ListenEndpoint: [VirtualServer]] = [:]
        var endpointOrder: [ListenEndpoint] = []
        for server in http?.servers ?? [] {
            var seen = Set<ListenEndpoint>()
            for listen in server.listens where seen.insert(listen.endpoint).inserted {
                if serversByEndpoint[listen.endpoint] == nil { endpointOrder.append(listen.endpoint) }
                serversByEndpoint[listen.endpoint, default: []].append(server)
            }
        }
        var endpoints: [ListenEndpoint: EndpointRoutes] = [:]
        for endpoint in endpointOrder {
            endpoints[endpoint] = EndpointRoutes(endpoint: endpoint, servers: serversByEndpoint[endpoint] ?? [])
        }
        self.endpoints = endpoints
    }

    /// The endpoints to listen on, with the socket options their `listen` lines ask for and what each serves.
    var listeners: [(listen: Listen, kind: ListenerKind)] {
        var seen = Set<ListenEndpoint>()
        var out: [(listen: Listen, kind: ListenerKind)] = []
        for server in configuration.http?.servers ?? [] {
            for listen in server.listens where seen.insert(listen.endpoint).inserted {
                out.append((listen, .http))
            }
        }
        for server in configuration.stream?.servers ?? [] {
            for listen in server.listens where seen.insert(listen.endpoint).inserted {
                out.append((listen, listen.udp ? .datagram : .stream))
            }
        }
        return out
    }

    /// An http upstream's place in `upstreams`.
    func upstreamIndex(named name: String) -> Int? { upstreamIndexByName[name] }

    /// The place of the upstream of `context` with this name in `upstreams`.
    func upstreamIndex(named name: String, context: ProxyContext) -> Int? {
        context == .http ? upstreamIndexByName[name] : streamUpstreamIndexByName[name]
    }

    /// Each stream endpoint's server: the first written for it, or its `default_server`. An http listener on the
    /// same TCP address is the bind failure nginx meets at start.
    private static func streamRoutes(
        _ configuration: Configuration, upstreamIndex: [String: Int]
    ) throws -> [ListenEndpoint: StreamRoute] {
        let httpEndpoints = Set((configuration.http?.servers ?? []).flatMap { $0.listens.map(\.endpoint) })
        var routes: [ListenEndpoint: StreamRoute] = [:]
        for server in configuration.stream?.servers ?? [] {
            let route = StreamRoute(server: server, upstream: server.upstreamName.flatMap { upstreamIndex[$0] })
            for listen in server.listens {
                if httpEndpoints.contains(listen.endpoint) {
                    throw ServerStartError(message: "bind() to \(listen.endpoint) failed (98: Address already in use)")
                }
                if routes[listen.endpoint] == nil || listen.defaultServer { routes[listen.endpoint] = route }
            }
        }
        return routes
    }

    /// Each upstream's peers in `upstreams` order: what the registry reconciles.
    var peerLists: [UpstreamPeerList] {
        upstreams.map { plan in
            UpstreamPeerList(
                upstream: plan.upstream.name, peers: plan.peers,
                health: plan.upstream.healthCheck.map { check in
                    HealthRules(
                        rise: check.rise, fall: check.fall, defaultDown: check.defaultDown,
                        probe: "\(check.kind.rawValue) port=\(check.port) send=\(check.httpSend) "
                            + "expect=\(check.expectAlive.sorted())")
                }, isStream: plan.upstream.context == .stream)
        }
    }
}

/// The stream server behind one stream listener, with its upstream's place in the snapshot's `upstreams`.
final class StreamRoute: Sendable {
    let server: StreamServer
    /// nil without `proxy_pass` (every connection ends with status 500, as nginx's "no handler for server").
    let upstream: Int?
    /// Addresses whose `listen` says `proxy_protocol`.
    let proxyProtocolEndpoints: Set<ListenEndpoint>

    init(server: StreamServer, upstream: Int?) {
        self.server = server
        self.upstream = upstream
        self.proxyProtocolEndpoints = Set(server.listens.filter(\.proxyProtocol).map(\.endpoint))
    }
}

/// The virtual servers behind one listening socket, with each server's location matcher (a class: every
/// connection holds a reference rather than its own copy).
final class EndpointRoutes: Sendable {
    let names: ServerNameTable
    /// In the order given to `names`, so its indices pick them.
    let servers: [ServerRoute]
    /// Some `listen` of the address says `proxy_protocol`: every connection starts with the header.
    let proxyProtocol: Bool

    init(endpoint: ListenEndpoint, servers: [VirtualServer]) {
        names = ServerNameTable(endpoint: endpoint, servers: servers)
        self.servers = servers.map(ServerRoute.init)
        proxyProtocol = servers.contains { $0.listens.contains { $0.endpoint == endpoint && $0.proxyProtocol } }
    }

    /// The server for a Host value: a reference, so routing a request copies no settings.
    func route(host: String?) -> ServerRoute {
        servers[names.selectIndex(host: host)]
    }
}

/// One virtual server as requests are routed to it, built once per configuration.
final class ServerRoute: Sendable {
    let server: VirtualServer
    let locations: LocationMatcher
    /// `$server_name`: the first name of the block (nginx's primary name), "" when none.
    let primaryName: String
    /// How request heads are read on connections whose default server this is (nginx takes
    /// `large_client_header_buffers`, `underscores_in_headers` and `ignore_invalid_headers` from it).
    let headRules: RequestHeadRules

    init(_ server: VirtualServer) {
        self.server = server
        self.locations = LocationMatcher(locations: server.locations)
        self.primaryName = server.primaryName
        let buffers = server.settings.largeClientHeaderBuffers
        self.headRules = RequestHeadRules(
            lineLimit: buffers.size, headLimit: buffers.count * buffers.size,
            underscoresInNames: server.settings.underscoresInHeaders,
            ignoreInvalidNames: server.settings.ignoreInvalidHeaders)
    }
}

/// The request-head parser's settings for one server.
struct RequestHeadRules: Sendable {
    let lineLimit: Int
    let headLimit: Int
    let underscoresInNames: Bool
    let ignoreInvalidNames: Bool
    /// The parser drops names with `_` (nginx's `underscores_in_headers off` with `ignore_invalid_headers on`).
    var dropsUnderscoreNames: Bool { !underscoresInNames && ignoreInvalidNames }
}

/// One upstream's peers as the balancer and the connector need them.
struct UpstreamPlan: Sendable {
    let upstream: Upstream
    let peers: [PeerDescriptor]
    let socketAddresses: [SocketAddress]
    let method: BalancingMethod

    init(upstream: Upstream, resolved: ResolvedServers = [:]) throws {
        self.upstream = upstream
        var peers: [PeerDescriptor] = []
        var addresses: [SocketAddress] = []
        for server in upstream.servers {
            let found: [ResolvedPeer]
            if server.resolution != nil {
                found = resolved[ResolutionKey(upstream: upstream.name, server: server)] ?? []
            } else {
                found = server.addresses.map { ResolvedPeer(address: $0) }
            }
            for answer in found {
                var peer = PeerDescriptor(
                    name: answer.name ?? server.name, address: answer.address.description,
                    weight: server.weight == 1 ? (answer.weight ?? 1) : server.weight,
                    maxFails: server.maxFails, failTimeoutSeconds: server.failTimeout.wholeSeconds,
                    backup: server.backup || answer.backup, down: server.down)
                peer.maxConns = server.maxConns
                peer.slowStartMilliseconds = server.slowStart.milliseconds
                peer.route = server.route
                peers.append(peer)
                addresses.append(try SocketAddress(ipAddress: answer.address.ip, port: answer.address.port))
            }
        }
        self.peers = peers
        self.socketAddresses = addresses
        switch upstream.method {
        case .roundRobin: method = .roundRobin
        case .leastConn: method = .leastConn
        case .ipHash: method = .ipHash
        case .hash(_, let consistent): method = consistent ? .consistentHash : .hash
        case .random(let two, let leastTime):
            if let leastTime {
                method = .randomTwoLeastTime(lastByte: leastTime == .lastByte)
            } else {
                method = two ? .randomTwo : .random
            }
        case .maglev: method = .maglev
        case .leastTime(let metric, let inflight):
            let measures: [LeastTimeMetric: LeastTimeMeasure] = [.header: .header, .lastByte: .lastByte, .connect: .connect]
            method = .leastTime(measures[metric] ?? .header, inflight: inflight)
        }
    }
}
