/// The blocks a directive can appear in.
enum ConfigContext: Hashable {
    case main, events, http, server, location, upstream
    case stream, streamServer, streamUpstream
}

/// What nginx's ngx_command_t says about a directive: where it may appear, how many arguments it takes, and
/// whether it opens a block. The builder checks these before a directive's own handler runs, in nginx's order.
struct DirectiveRule {
    enum Arity {
        /// Allowed argument counts (the name excluded).
        case counts(Set<Int>)
        case oneOrMore
        case twoOrMore
    }

    var contexts: Set<ConfigContext>
    var arity: Arity
    var isBlock: Bool = false

    func accepts(argumentCount count: Int) -> Bool {
        switch arity {
        case .counts(let allowed): return allowed.contains(count)
        case .oneOrMore: return count >= 1
        case .twoOrMore: return count >= 2
        }
    }
}

enum DirectiveTable {
    private static let inheritable: Set<ConfigContext> = [.http, .server, .location]
    private static let anywhere: Set<ConfigContext> = [
        .main, .events, .http, .server, .location, .upstream, .stream, .streamServer, .streamUpstream,
    ]
    private static let streamLevels: Set<ConfigContext> = [.stream, .streamServer]
    /// Upstream directives the stream module shares with http's.
    private static let anyUpstream: Set<ConfigContext> = [.upstream, .streamUpstream]

    /// Several rules share a name when modules reuse it in different contexts (`server`, `keepalive_timeout`).
    static let rules: [String: [DirectiveRule]] = [
        "include": [DirectiveRule(contexts: anywhere, arity: .counts([1]))],

        "worker_processes": [DirectiveRule(contexts: [.main], arity: .counts([1]))],
        "daemon": [DirectiveRule(contexts: [.main], arity: .counts([1]))],
        "master_process": [DirectiveRule(contexts: [.main], arity: .counts([1]))],
        "pid": [DirectiveRule(contexts: [.main], arity: .counts([1]))],
        "error_log": [DirectiveRule(contexts: [.main], arity: .oneOrMore)],
        "events": [DirectiveRule(contexts: [.main], arity: .counts([0]), isBlock: true)],
        "http": [DirectiveRule(contexts: [.main], arity: .counts([0]), isBlock: true)],
        "stream": [DirectiveRule(contexts: [.main], arity: .counts([0]), isBlock: true)],
        "worker_connections": [DirectiveRule(contexts: [.events], arity: .counts([1]))],

        "upstream": [DirectiveRule(contexts: [.http, .stream], arity: .counts([1]), isBlock: true)],
        "server": [
            DirectiveRule(contexts: [.http, .stream], arity: .counts([0]), isBlock: true),
            DirectiveRule(contexts: anyUpstream, arity: .oneOrMore),
        ],
        "least_conn": [DirectiveRule(contexts: anyUpstream, arity: .counts([0]))],
        "ip_hash": [DirectiveRule(contexts: [.upstream], arity: .counts([0]))],
        "least_time": [DirectiveRule(contexts: anyUpstream, arity: .counts([1, 2]))],
        "hash": [DirectiveRule(contexts: anyUpstream, arity: .counts([1, 2]))],
        "random": [DirectiveRule(contexts: anyUpstream, arity: .counts([0, 1, 2]))],
        "keepalive": [DirectiveRule(contexts: [.upstream], arity: .counts([1, 2]))],
        "keepalive_time": [DirectiveRule(contexts: [.upstream], arity: .counts([1]))],
        "keepalive_timeout": [
            DirectiveRule(contexts: inheritable, arity: .counts([1, 2])),
            DirectiveRule(contexts: [.upstream], arity: .counts([1])),
        ],
        "keepalive_requests": [
            DirectiveRule(contexts: inheritable, arity: .counts([1])),
            DirectiveRule(contexts: [.upstream], arity: .counts([1])),
        ],
        // Active health checks, in the upstream check module's syntax.
        "check": [DirectiveRule(contexts: anyUpstream, arity: .oneOrMore)],
        "check_keepalive_requests": [DirectiveRule(contexts: [.upstream], arity: .counts([1]))],
        "check_status": [DirectiveRule(contexts: [.location], arity: .counts([0, 1]))],
        "stub_status": [DirectiveRule(contexts: [.location], arity: .counts([0, 1]))],
        "metrics": [DirectiveRule(contexts: [.location], arity: .counts([0]))],
        "status": [DirectiveRule(contexts: [.location], arity: .counts([0]))],
        "api": [DirectiveRule(contexts: [.location], arity: .counts([0, 1]))],
        "state": [DirectiveRule(contexts: [.upstream], arity: .counts([1]))],
        "sticky": [DirectiveRule(contexts: [.upstream], arity: .oneOrMore)],
        "zone_sync_redis": [DirectiveRule(contexts: [.http], arity: .oneOrMore)],
        "allow": [DirectiveRule(contexts: [.http, .server, .location, .stream, .streamServer], arity: .counts([1]))],
        "deny": [DirectiveRule(contexts: [.http, .server, .location, .stream, .streamServer], arity: .counts([1]))],
        "check_shm_size": [DirectiveRule(contexts: [.http], arity: .counts([1]))],
        "zone": [DirectiveRule(contexts: anyUpstream, arity: .counts([1, 2]))],
        "queue": [DirectiveRule(contexts: [.upstream], arity: .counts([1, 2]))],
        "log_format": [DirectiveRule(contexts: [.http, .stream], arity: .twoOrMore)],
        "access_log": [DirectiveRule(contexts: [.http, .server, .location, .stream, .streamServer], arity: .oneOrMore)],
        "resolver": [DirectiveRule(contexts: [.http, .server, .location, .upstream], arity: .oneOrMore)],
        "resolver_timeout": [DirectiveRule(contexts: [.http, .server, .location, .upstream], arity: .counts([1]))],
        "check_http_send": [DirectiveRule(contexts: anyUpstream, arity: .counts([1]))],
        "check_http_expect_alive": [DirectiveRule(contexts: anyUpstream, arity: .oneOrMore)],

        "listen": [DirectiveRule(contexts: [.server, .streamServer], arity: .oneOrMore)],
        "server_name": [DirectiveRule(contexts: [.server], arity: .oneOrMore)],
        "location": [DirectiveRule(contexts: [.server, .location], arity: .counts([1, 2]), isBlock: true)],
        "return": [
            DirectiveRule(contexts: [.server, .location], arity: .counts([1, 2])),
            DirectiveRule(contexts: [.streamServer], arity: .counts([1])),
        ],
        "proxy_pass": [DirectiveRule(contexts: [.location, .streamServer], arity: .counts([1]))],

        "proxy_http_version": [DirectiveRule(contexts: inheritable, arity: .counts([1]))],
        "proxy_set_header": [DirectiveRule(contexts: inheritable, arity: .counts([2]))],
        "proxy_connect_timeout": [DirectiveRule(contexts: inheritable.union(streamLevels), arity: .counts([1]))],
        "proxy_send_timeout": [DirectiveRule(contexts: inheritable, arity: .counts([1]))],
        "proxy_read_timeout": [DirectiveRule(contexts: inheritable, arity: .counts([1]))],
        "proxy_buffer_size": [DirectiveRule(contexts: inheritable.union(streamLevels), arity: .counts([1]))],
        "proxy_buffers": [DirectiveRule(contexts: inheritable, arity: .counts([2]))],
        "proxy_busy_buffers_size": [DirectiveRule(contexts: inheritable, arity: .counts([1]))],
        "proxy_next_upstream": [
            DirectiveRule(contexts: inheritable, arity: .oneOrMore),
            DirectiveRule(contexts: streamLevels, arity: .counts([1])),
        ],
        "proxy_next_upstream_tries": [
            DirectiveRule(contexts: inheritable.union(streamLevels), arity: .counts([1]))
        ],
        "proxy_next_upstream_timeout": [
            DirectiveRule(contexts: inheritable.union(streamLevels), arity: .counts([1]))
        ],
        // The stream proxy's own.
        "proxy_timeout": [DirectiveRule(contexts: streamLevels, arity: .counts([1]))],
        "proxy_responses": [DirectiveRule(contexts: streamLevels, arity: .counts([1]))],
        "proxy_requests": [DirectiveRule(contexts: streamLevels, arity: .counts([1]))],
        "proxy_half_close": [DirectiveRule(contexts: streamLevels, arity: .counts([1]))],
        "proxy_protocol": [DirectiveRule(contexts: streamLevels, arity: .counts([1]))],
        "proxy_protocol_timeout": [DirectiveRule(contexts: streamLevels, arity: .counts([1]))],
        // The realip module (http's and stream's).
        "set_real_ip_from": [
            DirectiveRule(contexts: [.http, .server, .location, .stream, .streamServer], arity: .counts([1]))
        ],
        "real_ip_header": [DirectiveRule(contexts: [.http, .server, .location], arity: .counts([1]))],
        "client_max_body_size": [DirectiveRule(contexts: inheritable, arity: .counts([1]))],
        "client_body_timeout": [DirectiveRule(contexts: inheritable, arity: .counts([1]))],
        "client_header_timeout": [DirectiveRule(contexts: [.http, .server], arity: .counts([1]))],
        "large_client_header_buffers": [DirectiveRule(contexts: [.http, .server], arity: .counts([2]))],
        "underscores_in_headers": [DirectiveRule(contexts: [.http, .server], arity: .counts([1]))],
        "absolute_redirect": [DirectiveRule(contexts: [.http, .server, .location], arity: .counts([1]))],
        "port_in_redirect": [DirectiveRule(contexts: [.http, .server, .location], arity: .counts([1]))],
        "server_name_in_redirect": [DirectiveRule(contexts: [.http, .server, .location], arity: .counts([1]))],
        "ignore_invalid_headers": [DirectiveRule(contexts: [.http, .server], arity: .counts([1]))],
    ]

    /// ngx_conf_handler's checks, with its messages: unknown, wrong place, `;`/`{` mismatch, argument count.
    static func check(_ directive: Directive, in context: ConfigContext) throws(ConfigError) {
        let name = directive.name
        guard let candidates = rules[name] else {
            throw ConfigError("unknown directive \"\(name)\"", at: directive.location)
        }
        guard let rule = candidates.first(where: { $0.contexts.contains(context) }) else {
            throw ConfigError("\"\(name)\" directive is not allowed here", at: directive.location)
        }
        if !rule.isBlock && directive.block != nil {
            throw ConfigError("directive \"\(name)\" is not terminated by \";\"", at: directive.location)
        }
        if rule.isBlock && directive.block == nil {
            throw ConfigError("directive \"\(name)\" has no opening \"{\"", at: directive.location)
        }
        if !rule.accepts(argumentCount: directive.arguments.count) {
            throw ConfigError("invalid number of arguments in \"\(name)\" directive", at: directive.location)
        }
    }
}
