import MaitreBalancing

/// The `metrics` page in Prometheus's text exposition format (version 0.0.4): connection and request counts
/// (stub_status's, summed over the event loops) and every upstream peer's requests, failures, weight, admin state
/// and health-check verdict. Pure: the handler gathers the figures and this writes them.
enum MetricsPage {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    static let openMetricsContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8"

    /// The process's reload figures (the registry's).
    struct Reloads {
        var reloads: Int
        var failed: Int
        var lastSucceeded: Bool
        var generation: Int
        var loadedAtMilliseconds: Int64
    }

    /// True when a scraper's Accept header asks for OpenMetrics (Prometheus sends it first in its list).
    static func wantsOpenMetrics(_ accept: [String]) -> Bool {
        accept.contains { $0.lowercased().contains("application/openmetrics-text") }
    }

    /// The text format turned into OpenMetrics 1.0: a counter family is named without its `_total` suffix in
    /// HELP and TYPE (its samples keep it), and the exposition ends with `# EOF`.
    static func openMetrics(_ text: String) -> String {
        var counters: Set<Substring> = []
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") && line.hasSuffix(" counter") {
            counters.insert(line.dropFirst(7).dropLast(8))
        }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                let rest = line.dropFirst(7)
                let name = rest.prefix { $0 != " " }
                if counters.contains(name), name.hasSuffix("_total") {
                    out += line.prefix(7) + name.dropLast(6) + rest.dropFirst(name.count) + "\n"
                    continue
                }
            }
            out += line + "\n"
        }
        return out + "# EOF\n"
    }

    struct Peer {
        var status: PeerStatus
        /// The active check's verdict; nil when the upstream has no `check`.
        var checkDown: Bool?
    }

    /// Every loop's request figures added up.
    static func merge(_ loops: [RequestMetrics.Snapshot]) -> RequestMetrics.Snapshot {
        var total = RequestMetrics.Snapshot()
        for loop in loops {
            for (name, server) in loop.servers {
                var merged = total.servers[name] ?? RequestMetrics.Server()
                for index in merged.byClass.indices { merged.byClass[index] += server.byClass[index] }
                merged.latency = merged.latency + server.latency
                merged.receivedBytes += server.receivedBytes
                merged.sentBodyBytes += server.sentBodyBytes
                total.servers[name] = merged
            }
            total.pool = total.pool + loop.pool
            for (name, figures) in loop.upstreams {
                total.upstreams[name] = (total.upstreams[name] ?? RequestMetrics.UpstreamFigures()) + figures
            }
        }
        return total
    }

    static func body(
        connections: ConnectionStatsTable.Totals, peers: [Peer], requests: RequestMetrics.Snapshot,
        reloads: Reloads? = nil
    ) -> String {
        var out = ""
        if let reloads {
            family(&out, "maitred_config_reloads_total", "counter", "Reloads asked for (SIGHUP), by result.")
            out += "maitred_config_reloads_total{result=\"ok\"} \(reloads.reloads - reloads.failed)\n"
            out += "maitred_config_reloads_total{result=\"failed\"} \(reloads.failed)\n"
            family(&out, "maitred_config_last_reload_successful", "gauge",
                   "1 when the last reload was served (or none was asked for), 0 when it failed.")
            out += "maitred_config_last_reload_successful \(reloads.lastSucceeded ? 1 : 0)\n"
            family(&out, "maitred_config_generation", "gauge", "Configurations installed since start (1: the first).")
            out += "maitred_config_generation \(reloads.generation)\n"
            family(&out, "maitred_config_loaded_timestamp_seconds", "gauge",
                   "When the configuration in force was loaded (Unix time).")
            out += "maitred_config_loaded_timestamp_seconds \(Double(reloads.loadedAtMilliseconds) / 1000)\n"
        }
        family(&out, "maitred_connections_accepted_total", "counter", "Client connections accepted.")
        out += "maitred_connections_accepted_total \(connections.accepted)\n"
        family(&out, "maitred_connections_handled_total", "counter",
               "Client connections handled (accepted minus those refused for worker_connections).")
        out += "maitred_connections_handled_total \(connections.handled)\n"
        family(&out, "maitred_connections_active", "gauge", "Client connections open.")
        out += "maitred_connections_active \(connections.active)\n"
        family(&out, "maitred_connections", "gauge", "Client connections by what they are doing.")
        out += "maitred_connections{state=\"reading\"} \(connections.reading)\n"
        out += "maitred_connections{state=\"writing\"} \(connections.writing)\n"
        out += "maitred_connections{state=\"waiting\"} \(connections.waiting)\n"
        family(&out, "maitred_http_requests_total", "counter", "Client requests.")
        out += "maitred_http_requests_total \(connections.requests)\n"

        family(&out, "maitred_http_server_requests_total", "counter",
               "Requests answered, by server block (its first server_name) and status class.")
        for name in requests.servers.keys.sorted() {
            let server = requests.servers[name] ?? RequestMetrics.Server()
            for (index, code) in ["other", "1xx", "2xx", "3xx", "4xx", "5xx"].enumerated() where server.byClass[index] > 0 {
                out += "maitred_http_server_requests_total{server=\"\(label(name))\",code=\"\(code)\"} "
                    + "\(server.byClass[index])\n"
            }
        }
        family(&out, "maitred_http_request_duration_seconds", "histogram",
               "Time from the complete request head to the end of the response, by server block.")
        for name in requests.servers.keys.sorted() {
            histogram(&out, "maitred_http_request_duration_seconds", "server=\"\(label(name))\"",
                      requests.servers[name]?.latency ?? LatencyHistogram())
        }
        family(&out, "maitred_upstream_response_duration_seconds", "histogram",
               "Time of each upstream attempt, from its start to the end of its response or its failure, by upstream.")
        for name in requests.upstreams.keys.sorted() {
            histogram(&out, "maitred_upstream_response_duration_seconds", "upstream=\"\(label(name))\"",
                      requests.upstreams[name]?.histogram ?? LatencyHistogram())
        }
        family(&out, "maitred_upstream_connections_created_total", "counter", "Upstream connections opened.")
        out += "maitred_upstream_connections_created_total \(requests.pool.created)\n"
        family(&out, "maitred_upstream_connections_reused_total", "counter",
               "Attempts sent on a kept-alive (pooled) upstream connection.")
        out += "maitred_upstream_connections_reused_total \(requests.pool.reused)\n"
        family(&out, "maitred_upstream_connections", "gauge", "Upstream connections open now, and idle in the pools.")
        out += "maitred_upstream_connections{state=\"open\"} \(requests.pool.open)\n"
        out += "maitred_upstream_connections{state=\"idle\"} \(requests.pool.idle)\n"
        family(&out, "maitred_upstream_retries_total", "counter",
               "Attempts after a request's first (proxy_next_upstream), by upstream.")
        for name in requests.upstreams.keys.sorted() {
            out += "maitred_upstream_retries_total{upstream=\"\(label(name))\"} \(requests.upstreams[name]?.retries ?? 0)\n"
        }
        family(&out, "maitred_upstream_attempt_failures_total", "counter",
               "Failed attempts by upstream and reason (error, timeout, invalid_header, status: a response proxy_next_upstream refused).")
        for name in requests.upstreams.keys.sorted() {
            let failures = requests.upstreams[name]?.failures ?? [:]
            for reason in failures.keys.sorted() {
                out += "maitred_upstream_attempt_failures_total{upstream=\"\(label(name))\",reason=\"\(reason)\"} "
                    + "\(failures[reason] ?? 0)\n"
            }
        }
        family(&out, "maitred_http_received_bytes_total", "counter",
               "Request bytes received (heads and bodies), by server block.")
        for name in requests.servers.keys.sorted() {
            out += "maitred_http_received_bytes_total{server=\"\(label(name))\"} "
                + "\(requests.servers[name]?.receivedBytes ?? 0)\n"
        }
        family(&out, "maitred_http_sent_body_bytes_total", "counter",
               "Response body bytes sent to clients ($body_bytes_sent), by server block.")
        for name in requests.servers.keys.sorted() {
            out += "maitred_http_sent_body_bytes_total{server=\"\(label(name))\"} "
                + "\(requests.servers[name]?.sentBodyBytes ?? 0)\n"
        }

        family(&out, "maitred_upstream_peer_requests_total", "counter",
               "Attempts sent to the peer (retries count as attempts).")
        for peer in peers { sample(&out, "maitred_upstream_peer_requests_total", peer, peer.status.counters.selected) }
        family(&out, "maitred_upstream_peer_failures_total", "counter",
               "Attempts on the peer that failed (errors, timeouts, invalid headers, statuses proxy_next_upstream lists).")
        for peer in peers { sample(&out, "maitred_upstream_peer_failures_total", peer, peer.status.counters.failed) }
        family(&out, "maitred_upstream_peer_unavailable_total", "counter",
               "Times max_fails failures took the peer out for fail_timeout.")
        for peer in peers { sample(&out, "maitred_upstream_peer_unavailable_total", peer, peer.status.counters.disabled) }
        family(&out, "maitred_upstream_peer_active", "gauge", "Attempts holding the peer now (in-flight requests).")
        for peer in peers { sample(&out, "maitred_upstream_peer_active", peer, max(0, peer.status.counters.active)) }
        family(&out, "maitred_upstream_peer_least_time_seconds", "gauge",
               "least_time's peak EWMA of the peer's response time (upstreams with random two least_time only).")
        for peer in peers {
            guard let ewma = peer.status.responseTimeEWMA else { continue }
            sample(&out, "maitred_upstream_peer_least_time_seconds", peer, ewma / 1000)
        }
        family(&out, "maitred_upstream_peer_weight", "gauge", "The peer's weight in force.")
        for peer in peers { sample(&out, "maitred_upstream_peer_weight", peer, peer.status.weight) }
        family(&out, "maitred_upstream_peer_admin_state", "gauge", "1 for the peer's admin state (up, down, drain).")
        for peer in peers {
            for state in PeerAdminState.allCases {
                sample(&out, "maitred_upstream_peer_admin_state", peer, peer.status.adminState == state ? 1 : 0,
                       extra: "state=\"\(state.rawValue)\"")
            }
        }
        family(&out, "maitred_upstream_peer_health_check_up", "gauge",
               "1 when the active check has the peer up, 0 when down (peers of upstreams with a check only).")
        for peer in peers {
            guard let down = peer.checkDown else { continue }
            sample(&out, "maitred_upstream_peer_health_check_up", peer, down ? 0 : 1)
        }
        family(&out, "maitred_upstream_peer_health_checks_total", "counter", "Active health probes of the peer.")
        for peer in peers where peer.checkDown != nil {
            sample(&out, "maitred_upstream_peer_health_checks_total", peer, peer.status.history.checks)
        }
        family(&out, "maitred_upstream_peer_health_check_failures_total", "counter", "Probes of the peer that failed.")
        for peer in peers where peer.checkDown != nil {
            sample(&out, "maitred_upstream_peer_health_check_failures_total", peer, peer.status.history.checkFailures)
        }
        family(&out, "maitred_upstream_peer_health_check_duration_seconds", "gauge", "How long the last probe took.")
        for peer in peers where peer.checkDown != nil {
            guard let duration = peer.status.history.lastCheckNanoseconds else { continue }
            sample(&out, "maitred_upstream_peer_health_check_duration_seconds", peer, Double(duration) / 1_000_000_000)
        }
        return out
    }

    /// Cumulative buckets, then `_sum` (seconds) and `_count`, as the format wants a histogram.
    /// Prometheus's buckets, summed from the finer ones.
    /// `sticky learn … sync`'s link to Redis, when one is configured.
    static func stickySync(_ sync: StickySyncClient.Counters) -> String {
        guard sync.configured else { return "" }
        var out = ""
        family(&out, "maitred_sticky_sync_up", "gauge",
               "1 when both connections to the zone_sync_redis server are up, 0 while they reconnect.")
        out += "maitred_sticky_sync_up \(sync.up ? 1 : 0)\n"
        family(&out, "maitred_sticky_sync_sessions_total", "counter",
               "sticky learn sync sessions: published to Redis, received from other instances, loaded at (re)connection, dropped while Redis was away or behind.")
        out += "maitred_sticky_sync_sessions_total{event=\"published\"} \(sync.published)\n"
        out += "maitred_sticky_sync_sessions_total{event=\"received\"} \(sync.received)\n"
        out += "maitred_sticky_sync_sessions_total{event=\"loaded\"} \(sync.loaded)\n"
        out += "maitred_sticky_sync_sessions_total{event=\"dropped\"} \(sync.dropped)\n"
        return out
    }

    static func histogram(_ out: inout String, _ name: String, _ labels: String, _ histogram: LatencyHistogram) {
        for bound in RequestMetrics.bounds {
            let cumulative = histogram.count(atMostMilliseconds: bound * 1000)
            out += "\(name)_bucket{\(labels),le=\"\(bound)\"} \(cumulative)\n"
        }
        let total = histogram.total
        out += "\(name)_bucket{\(labels),le=\"+Inf\"} \(total)\n"
        let seconds = Double(histogram.sumNanoseconds) / 1_000_000_000
        out += "\(name)_sum{\(labels)} \(seconds)\n"
        out += "\(name)_count{\(labels)} \(total)\n"
    }

    private static func family(_ out: inout String, _ name: String, _ type: String, _ help: String) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    private static func sample(
        _ out: inout String, _ name: String, _ peer: Peer, _ value: some Numeric & CustomStringConvertible,
        extra: String? = nil
    ) {
        let identity = peer.status.identity
        out += "\(name){upstream=\"\(label(identity.upstream))\",server=\"\(label(identity.server))\","
            + "peer=\"\(label(identity.address))\""
        if identity.ordinal > 0 { out += ",ordinal=\"\(identity.ordinal)\"" }
        if identity.isStream { out += ",context=\"stream\"" }
        if let extra { out += "," + extra }
        out += "} \(value)\n"
    }

    /// A label value as the exposition format escapes it: `\`, `"` and line feeds.
    static func label(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
