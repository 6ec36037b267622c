#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreBalancing
import MaitreConfig
import NIOCore
import NIOHTTP1

/// The `status` page and the `api`: both answer from the registry's figures (read on every loop, so the answer
/// is written once they are gathered; the request holds its connection meanwhile, pipelined requests wait). A
/// PATCH's body is collected (up to `apiBodyLimit`) before the change is made.
extension HTTPProxyHandler {
    static let apiBodyLimit = 16 * 1024

    /// A PATCH waiting for its body.
    struct PendingAPIWrite {
        let route: APIRoute
        let keepAlive: Bool
        var body: [UInt8] = []
    }

    func respondStatusPage(method: RequestRecord.Method, args: String?, keepAlive: Bool, isHead: Bool) {
        guard method == .get || method == .head else {
            respondLocally(status: .methodNotAllowed, keepAlive: keepAlive, isHead: isHead)
            return
        }
        let wantsJSON = args.map { $0.split(separator: "&").contains("format=json") } ?? false
        guard wantsJSON else {
            respondLocally(status: .ok, keepAlive: keepAlive, isHead: isHead, body: StatusPageHTML.page,
                           contentType: "text/html; charset=utf-8")
            return
        }
        withStatusDocument(keepAlive: keepAlive, isHead: isHead) { document in (200, document.full) }
    }

    /// `path`: the normalized request path; `location`: where it was routed (its prefix is the API's root).
    func respondAPI(
        _ settings: APISettings, method: RequestRecord.Method, methodName: String, path: String, location: Location,
        keepAlive: Bool, isHead: Bool, bodyExpected: Bool
    ) {
        let route: APIRoute
        switch APIRoute.route(Self.apiComponents(path: path, location: location)) {
        case .success(let found): route = found
        case .failure(let error):
            respondAPIError(error, keepAlive: keepAlive, isHead: isHead)
            return
        }
        switch method {
        case .get, .head:
            withStatusDocument(keepAlive: keepAlive, isHead: isHead) { document in
                Self.apiDocument(route, document)
            }
        case .patch:
            guard settings.write else {
                respondAPIError(.methodDisabled, keepAlive: keepAlive, isHead: isHead)
                return
            }
            guard case .server = route else {
                respondAPIError(.methodNotSupported, keepAlive: keepAlive, isHead: isHead)
                return
            }
            pendingAPIWrite = PendingAPIWrite(route: route, keepAlive: keepAlive)
            if bodyExpected { armBodyTimer(location.settings.clientBodyTimeout) }
        case .post, .other where methodName == "DELETE" || methodName == "PUT":
            respondAPIError(settings.write ? .methodNotSupported : .methodDisabled, keepAlive: keepAlive, isHead: isHead)
        default:
            respondAPIError(.methodNotSupported, keepAlive: keepAlive, isHead: isHead)
        }
    }

    /// A PATCH's body bytes. False when the body went over the limit (answered with 413).
    func apiBodyReceived(_ body: ByteBuffer) {
        guard var pending = pendingAPIWrite else { return }
        pendingAPIWrite = nil  // no copy-on-write of the bytes while appending
        guard pending.body.count + body.readableBytes <= Self.apiBodyLimit else {
            respondAPIError(.bodyTooLarge, keepAlive: false, isHead: false)
            discardRequestBody(expected: true)
            return
        }
        pending.body += body.readableBytesView
        pendingAPIWrite = pending
    }

    /// The PATCH's body is complete: the change is made on the registry, answered once every loop applied it.
    func apiBodyComplete() {
        guard let pending = pendingAPIWrite else { return }
        pendingAPIWrite = nil
        bodyTimer?.cancel()
        bodyTimer = nil
        guard case .server(let upstream, let id, let inStream) = pending.route else { return }
        let change: APIRoute.ServerChange
        switch APIRoute.serverChange(pending.body) {
        case .success(let read): change = read
        case .failure(let error):
            respondAPIError(error, keepAlive: pending.keepAlive, isHead: false)
            return
        }
        guard let registry = loop.registry else {
            respondAPIError(.upstreamNotFound, keepAlive: pending.keepAlive, isHead: false)
            return
        }
        let keepAlive = pending.keepAlive
        let request = requestsServed
        let context: ProxyContext = inStream ? .stream : .http
        registry.peers(of: context).hop(to: loop.eventLoop).assumeIsolated().flatMap { peers -> EventLoopFuture<Void> in
            let ofUpstream = peers.filter { $0.identity.upstream == upstream }
            guard !ofUpstream.isEmpty || self.runtime.snapshot.upstreamIndex(named: upstream, context: context) != nil
            else {
                return self.loop.eventLoop.makeFailedFuture(APIError.upstreamNotFound)
            }
            guard id < ofUpstream.count else { return self.loop.eventLoop.makeFailedFuture(APIError.serverNotFound) }
            let identity = ofUpstream[id].identity
            var changes: [EventLoopFuture<Void>] = []
            do {
                if let weight = change.weight { changes.append(try registry.setWeight(weight, for: identity, by: "API")) }
                if let admin = change.adminState {
                    changes.append(try registry.setAdminState(admin, for: identity, by: "API"))
                }
            } catch {
                return self.loop.eventLoop.makeFailedFuture(APIError.serverNotFound)
            }
            return EventLoopFuture.andAllSucceed(changes, on: self.loop.eventLoop)
        }.nonisolated().whenComplete { [weak self] result in
            guard let self else { return }
            self.loop.eventLoop.assumeIsolated().execute {
                guard self.context != nil, self.requestsServed == request, self.exchange == nil,
                    !self.state.isClosing
                else { return }
                if case .failure(let error) = result {
                    self.respondAPIError(error as? APIError ?? .serverNotFound, keepAlive: keepAlive, isHead: false)
                    return
                }
                self.withStatusDocument(keepAlive: keepAlive, isHead: false) { document in
                    Self.apiDocument(.server(upstream, id, inStream: inStream), document)
                }
            }
        }
    }

    /// client_body_timeout for a PATCH's body: closed without a response and logged as 408, as nginx ends a
    /// request whose body stops coming.
    func apiBodyTimerFired(_ timeout: TimeSpan) {
        let wait = lastBodyRead + .milliseconds(timeout.milliseconds) - loop.eventLoop.now
        if wait > .zero {
            bodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: wait) { [weak self] in
                self?.bodyTimerFired(timeout)
            }
            return
        }
        pendingAPIWrite = nil
        log.log(.info, "client timed out (110: Connection timed out) while reading client request body, client: "
                + remoteIP, connection: connectionNumber)
        dropConnection(status: 408)
    }

    // MARK: - Helpers

    /// The API's path components: what follows the location's prefix (for a regex location, from the first
    /// all-digit component, the version).
    static func apiComponents(path: String, location: Location) -> [String] {
        var components = path.split(separator: "/").map(String.init)
        switch location.match {
        case .prefix(let prefix, _), .exact(let prefix):
            let skipped = prefix.split(separator: "/").count
            components = path.hasPrefix(prefix) ? Array(components.dropFirst(skipped)) : components
        case .regex:
            if let version = components.firstIndex(where: { !$0.isEmpty && $0.allSatisfy(\.isNumber) }) {
                components = Array(components[version...])
            } else {
                components = []
            }
        }
        return components
    }

    /// A GET's answer: status and JSON.
    static func apiDocument(_ route: APIRoute, _ document: StatusDocument) -> (Int, String) {
        switch route {
        case .versions: return (200, "[" + APIRoute.versionNumbers.map(String.init).joined(separator: ",") + "]")
        case .root: return (200, "[\"nginx\",\"connections\",\"http\",\"stream\"]")
        case .stream: return (200, "[\"upstreams\"]")
        case .nginx: return (200, document.processObject)
        case .connections: return (200, document.connectionsObject)
        case .http: return (200, "[\"requests\",\"server_zones\",\"upstreams\"]")
        case .httpRequests:
            return (200, "{\"total\":\(document.connections.requests),\"current\":\(document.connections.writing)}")
        case .serverZones: return (200, document.serverZonesObject)
        case .upstreams(let inStream): return (200, (inStream ? document.streamView : document).upstreamsObject)
        case .upstream(_, true), .servers(_, true), .server(_, _, true):
            return apiDocument(route.inHTTP, document.streamView)
        case .upstream(let name, false):
            guard let upstream = document.upstreams.first(where: { $0.name == name }) else {
                return (404, APIError.upstreamNotFound.json(requestID: ""))
            }
            return (200, document.upstreamObject(upstream))
        case .servers(let name, false):
            guard document.upstreams.contains(where: { $0.name == name }) else {
                return (404, APIError.upstreamNotFound.json(requestID: ""))
            }
            return (200, "[" + document.peers(of: name).map { document.serverObject(id: $0.id, $0.peer) }
                .joined(separator: ",") + "]")
        case .server(let name, let id, false):
            guard document.upstreams.contains(where: { $0.name == name }) else {
                return (404, APIError.upstreamNotFound.json(requestID: ""))
            }
            let peers = document.peers(of: name)
            guard id < peers.count else { return (404, APIError.serverNotFound.json(requestID: "")) }
            return (200, document.serverObject(id: id, peers[id].peer))
        }
    }

    func respondAPIError(_ error: APIError, keepAlive: Bool, isHead: Bool) {
        respondLocally(
            status: HTTPResponseStatus(statusCode: error.status), keepAlive: keepAlive, isHead: isHead,
            body: error.json(requestID: requestID.get()), contentType: "application/json")
    }

    /// Gathers the registry's peers and every loop's request figures, then answers with `make`'s status and JSON.
    func withStatusDocument(keepAlive: Bool, isHead: Bool, _ make: @escaping (StatusDocument) -> (Int, String)) {
        let request = requestsServed
        let snapshot = runtime.snapshot
        func infos(_ context: ProxyContext) -> [StatusDocument.UpstreamInfo] {
            snapshot.upstreams.filter { $0.upstream.context == context }.map { plan in
                StatusDocument.UpstreamInfo(
                    name: plan.upstream.name, method: plan.method, healthCheck: plan.upstream.healthCheck,
                    stateFile: plan.upstream.stateFile)
            }
        }
        let upstreams = infos(.http)
        let streamUpstreams = infos(.stream)
        guard let registry = loop.registry else {
            let document = StatusDocument(
                process: Self.processFigures(nil), connections: loop.statsTable.totals,
                requests: loop.metricsSnapshot, upstreams: upstreams, peers: [])
            let (status, body) = make(document)
            respondJSON(status: status, body: body, keepAlive: keepAlive, isHead: isHead)
            return
        }
        let figures = registry.peers().and(registry.requestMetrics()).and(registry.peers(of: .stream))
        figures.hop(to: loop.eventLoop).assumeIsolated().whenComplete { [weak self] result in
            guard let self, self.context != nil, self.requestsServed == request, self.exchange == nil,
                !self.state.isClosing
            else { return }
            let ((peers, perLoop), streamPeers) = (try? result.get()) ?? (([], []), [])
            var document = StatusDocument(
                process: Self.processFigures(registry), connections: self.loop.statsTable.totals,
                requests: MetricsPage.merge(perLoop), upstreams: upstreams, peers: peers)
            document.stream = StatusDocument.StreamPart(upstreams: streamUpstreams, peers: streamPeers)
            let (status, body) = make(document)
            self.respondJSON(status: status, body: body, keepAlive: keepAlive, isHead: isHead)
        }
    }

    private func respondJSON(status: Int, body: String, keepAlive: Bool, isHead: Bool) {
        respondLocally(
            status: HTTPResponseStatus(statusCode: status), keepAlive: keepAlive, isHead: isHead, body: body,
            contentType: "application/json")
    }

    private static func processFigures(_ registry: UpstreamRegistry?) -> StatusDocument.Process {
        let now = WallClock.nowMilliseconds()
        let reload = registry?.reloadStatus
            ?? MetricsPage.Reloads(reloads: 0, failed: 0, lastSucceeded: true, generation: 1, loadedAtMilliseconds: now)
        return StatusDocument.Process(
            pid: Int(getpid()), generation: reload.generation, loadedAtMilliseconds: reload.loadedAtMilliseconds,
            nowMilliseconds: now, reloads: reload.reloads, lastReloadSucceeded: reload.lastSucceeded)
    }
}
