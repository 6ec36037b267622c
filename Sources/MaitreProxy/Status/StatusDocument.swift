import MaitreBalancing
import MaitreConfig
import MaitreWire

/// The JSON the `status` page polls (`?format=json`) and the `api` serves, in nginx Plus's API shapes where it
/// has one (upstreams, peers, servers) with maitred's additions (algorithm, admin state, history, histograms).
/// Pure: the handler gathers the figures and this writes them. See docs/api.md for every field.
struct StatusDocument {
    struct Process {
        var pid: Int
        var generation: Int
        var loadedAtMilliseconds: Int64
        var nowMilliseconds: Int64
        var reloads: Int
        var lastReloadSucceeded: Bool
    }

    /// One upstream of the configuration in force: its name, method and check, in configuration order.
    struct UpstreamInfo {
        var name: String
        var method: BalancingMethod
        var healthCheck: HealthCheck?
        var stateFile: String?
    }

    var process: Process
    var connections: ConnectionStatsTable.Totals
    var requests: RequestMetrics.Snapshot
    var upstreams: [UpstreamInfo]
    /// The registry's peers, by upstream in record order (`UpstreamRegistry.peers()`).
    var peers: [PeerStatus]
    /// The stream context's upstreams and peers (nginx Plus's `/stream/upstreams`), as a document of their own.
    var stream: StreamPart?

    struct StreamPart {
        var upstreams: [UpstreamInfo]
        var peers: [PeerStatus]
    }

    /// The same document seen from the stream context: its upstreams and peers in place of http's.
    var streamView: StatusDocument {
        var view = self
        view.upstreams = stream?.upstreams ?? []
        view.peers = stream?.peers ?? []
        view.stream = nil
        return view
    }

    /// The peers of `upstream` with their API ids (position among the upstream's records).
    func peers(of upstream: String) -> [(id: Int, peer: PeerStatus)] {
        peers.filter { $0.identity.upstream == upstream }.enumerated().map { ($0.offset, $0.element) }
    }

    // MARK: documents

    /// The status page's document.
    var full: String {
        var out = "{\"maitred\":" + processObject
        out += ",\"connections\":" + connectionsObject
        out += ",\"requests\":{\"total\":\(connections.requests)}"
        out += ",\"server_zones\":" + serverZonesObject
        out += ",\"upstreams\":" + upstreamsObject
        out += ",\"stream\":{\"upstreams\":" + streamView.upstreamsObject + "}}"
        return out
    }

    var processObject: String {
        "{\"version\":\(JSONText.quoted(MaitreVersion.string)),\"build\":\"maitre\",\"pid\":\(process.pid)"
            + ",\"generation\":\(process.generation),\"reloads\":\(process.reloads)"
            + ",\"last_reload_ok\":\(process.lastReloadSucceeded)"
            + ",\"load_timestamp\":\(JSONText.quoted(WallClock.iso8601(milliseconds: process.loadedAtMilliseconds)))"
            + ",\"timestamp\":\(JSONText.quoted(WallClock.iso8601(milliseconds: process.nowMilliseconds)))}"
    }

    var connectionsObject: String {
        "{\"accepted\":\(connections.accepted),\"handled\":\(connections.handled)"
            + ",\"dropped\":\(max(0, connections.accepted - connections.handled)),\"active\":\(connections.active)"
            + ",\"reading\":\(connections.reading),\"writing\":\(connections.writing)"
            + ",\"waiting\":\(connections.waiting),\"idle\":\(connections.waiting)}"
    }

    var serverZonesObject: String {
        let names = requests.servers.keys.sorted()
        let members = names.map { name -> String in
            let server = requests.servers[name] ?? RequestMetrics.Server()
            let total = server.byClass.reduce(0, +)
            var responses = ""
            for (index, label) in ["1xx", "2xx", "3xx", "4xx", "5xx"].enumerated() {
                responses += "\(JSONText.quoted(label)):\(server.byClass[index + 1]),"
            }
            return JSONText.quoted(name) + ":{\"requests\":\(total),\"responses\":{" + responses
                + "\"total\":\(total)},\"request_time\":" + Self.histogram(server.latency) + "}"
        }
        return "{" + members.joined(separator: ",") + "}"
    }

    var upstreamsObject: String {
        "{" + upstreams.map { JSONText.quoted($0.name) + ":" + upstreamObject($0) }.joined(separator: ",") + "}"
    }

    func upstreamObject(_ upstream: UpstreamInfo) -> String {
        let peers = peers(of: upstream.name).map { peerObject(id: $0.id, $0.peer, checked: upstream.healthCheck != nil) }
        var out = "{\"peers\":[" + peers.joined(separator: ",") + "]"
        out += ",\"algorithm\":" + JSONText.quoted(Self.algorithm(upstream.method))
        if let check = upstream.healthCheck {
            out += ",\"health_check\":{\"type\":\(JSONText.quoted(check.kind.rawValue))"
                + ",\"interval_ms\":\(check.intervalMilliseconds),\"rise\":\(check.rise),\"fall\":\(check.fall)"
                + ",\"timeout_ms\":\(check.timeoutMilliseconds)}"
        } else {
            out += ",\"health_check\":null"
        }
        out += ",\"state_file\":" + (upstream.stateFile.map(JSONText.quoted) ?? "null")
        out += ",\"zone\":" + JSONText.quoted(upstream.name) + "}"
        return out
    }

    /// nginx Plus's peer object (`/http/upstreams/NAME` → `peers`), with maitred's fields after its own.
    func peerObject(id: Int, _ peer: PeerStatus, checked: Bool) -> String {
        let counters = peer.counters
        var out = "{\"id\":\(id),\"server\":\(JSONText.quoted(peer.identity.server))"
        out += ",\"name\":\(JSONText.quoted(peer.identity.address)),\"backup\":\(peer.configured.backup)"
        out += ",\"weight\":\(peer.weight),\"configured_weight\":\(peer.configured.weight)"
        out += ",\"state\":\(JSONText.quoted(Self.state(of: peer)))"
        out += ",\"admin_state\":\(JSONText.quoted(peer.adminState.rawValue))"
        out += ",\"active\":\(max(0, counters.active)),\"max_conns\":\(peer.configured.maxConns)"
        out += ",\"requests\":\(counters.selected),\"fails\":\(counters.failed),\"unavail\":\(counters.disabled)"
        if checked, let health = peer.health {
            let history = peer.history
            out += ",\"health_checks\":{\"checks\":\(history.checks),\"fails\":\(history.checkFailures)"
                + ",\"unhealthy\":\(history.timesUnhealthy),\"down\":\(health.isDown)"
            if let passed = history.lastPassed { out += ",\"last_passed\":\(passed)" }
            if let duration = history.lastCheckNanoseconds {
                out += ",\"last_check_ms\":" + JSONText.number(Double(duration) / 1_000_000)
            }
            out += ",\"summary\":\(JSONText.quoted(history.summary))}"
        } else {
            out += ",\"health_checks\":null"
        }
        out += ",\"response_time\":" + Self.histogram(counters.responseTimes)
        if let ewma = peer.responseTimeEWMA { out += ",\"least_time_ms\":" + JSONText.number(ewma) }
        let events = peer.history.events.map { event in
            "{\"time\":\(JSONText.quoted(WallClock.iso8601(milliseconds: event.milliseconds)))"
                + ",\"event\":\(JSONText.quoted(event.text))}"
        }
        out += ",\"history\":[" + events.joined(separator: ",") + "]}"
        return out
    }

    /// nginx Plus's server object (`/http/upstreams/NAME/servers/ID`): the peer as configured, with the run-time
    /// weight and admin state.
    func serverObject(id: Int, _ peer: PeerStatus) -> String {
        let configured = peer.configured
        var out = "{\"id\":\(id),\"server\":\(JSONText.quoted(peer.identity.server))"
        out += ",\"name\":\(JSONText.quoted(peer.identity.address)),\"weight\":\(peer.weight)"
        out += ",\"max_conns\":\(configured.maxConns),\"max_fails\":\(configured.maxFails)"
        out += ",\"fail_timeout\":\"\(configured.failTimeoutSeconds)s\""
        out += ",\"slow_start\":\"\(configured.slowStartMilliseconds / 1000)s\",\"route\":\"\""
        out += ",\"backup\":\(configured.backup),\"down\":\(peer.adminState == .down)"
        if peer.adminState == .drain { out += ",\"drain\":true" }
        return out + "}"
    }

    // MARK: words

    /// nginx Plus's peer states: `up`, `draining`, `down`, `unavail` (max_fails), `unhealthy` (the check),
    /// `checking` (down until its first check passes).
    static func state(of peer: PeerStatus) -> String {
        switch peer.adminState {
        case .down: return "down"
        case .drain: return "draining"
        case .up: break
        }
        if let health = peer.health, health.isDown {
            return peer.history.lastPassed == nil ? "checking" : "unhealthy"
        }
        return peer.unavailable ? "unavail" : "up"
    }

    static func algorithm(_ method: BalancingMethod) -> String {
        switch method {
        case .roundRobin: "round_robin"
        case .leastConn: "least_conn"
        case .ipHash: "ip_hash"
        case .hash: "hash"
        case .consistentHash: "hash consistent"
        case .maglev: "hash maglev"
        case .random: "random"
        case .randomTwo: "random two least_conn"
        case .randomTwoLeastTime(let lastByte): lastByte ? "random two least_time=last_byte" : "random two least_time=header"
        case .leastTime(let measure, let inflight):
            "least_time " + (measure == .lastByte ? "last_byte" : measure == .connect ? "connect" : "header")
                + (inflight ? " inflight" : "")
        }
    }

    static func histogram(_ histogram: LatencyHistogram) -> String {
        let bounds = LatencyHistogram.boundsMilliseconds.map { JSONText.number($0) }.joined(separator: ",")
        let counts = histogram.counts.map(String.init).joined(separator: ",")
        return "{\"bounds_ms\":[\(bounds)],\"counts\":[\(counts)]}"
    }
}
