/// The inheritable settings written at one level (http, server or location), unset fields meaning "inherit".
/// Merging a child over its parent is nginx's merge_loc_conf: each directive independently, except that the
/// `proxy_set_header` list is taken whole from the nearest level that has one.
struct SettingsLayer {
    var proxyHTTPVersion: HTTPVersionSetting?
    var proxySetHeaders: [HeaderSetting]?
    var proxyConnectTimeout: TimeSpan?
    var proxySendTimeout: TimeSpan?
    var proxyReadTimeout: TimeSpan?
    var proxyBufferSize: Int?
    var proxyBuffers: BufferCount?
    var proxyBusyBuffersSize: Int?
    /// The raw `proxy_next_upstream` bits and whether `off` was among them (it then wins, as in nginx).
    var proxyNextUpstream: NextUpstreamConditions?
    var proxyNextUpstreamOff = false
    var proxyNextUpstreamTries: Int?
    var proxyNextUpstreamTimeout: TimeSpan?
    var clientMaxBodySize: Int?
    var clientHeaderTimeout: TimeSpan?
    var clientBodyTimeout: TimeSpan?
    var keepaliveTimeout: TimeSpan?
    /// Merged on its own, like nginx's keepalive_header: `keepalive_timeout 5s` in a location keeps an inherited header value.
    var keepaliveHeaderTimeout: TimeSpan?
    var keepaliveRequests: Int?
    var largeClientHeaderBuffers: BufferCount?
    var underscoresInHeaders: Bool?
    var ignoreInvalidHeaders: Bool?
    var absoluteRedirect: Bool?
    var portInRedirect: Bool?
    var serverNameInRedirect: Bool?
    /// `resolver` and `resolver_timeout`: only the http level's reach upstreams (nginx uses the others for
    /// run-time `proxy_pass` names, which maitred does not have).
    var resolver: ResolverSetting?
    var resolverTimeout: TimeSpan?
    /// `access_log` lines of this level (`[]` after `access_log off`); nil inherits the parent's.
    var accessLogs: [AccessLog]?
    /// `allow` / `deny` lines of this level, in order; nil inherits the parent's (nginx's merge: a level with
    /// rules of its own replaces its parent's).
    var accessRules: [AccessRule]?
    /// `set_real_ip_from` lines of this level; nil inherits the parent's (nginx's realip merge).
    var realIPFrom: [IPNetwork]?
    /// `real_ip_header`: maitred reads only `proxy_protocol`.
    var realIPHeader: String?

    func merged(over parent: SettingsLayer) -> SettingsLayer {
        var result = self
        result.proxyHTTPVersion = proxyHTTPVersion ?? parent.proxyHTTPVersion
        result.proxySetHeaders = proxySetHeaders ?? parent.proxySetHeaders
        result.proxyConnectTimeout = proxyConnectTimeout ?? parent.proxyConnectTimeout
        result.proxySendTimeout = proxySendTimeout ?? parent.proxySendTimeout
        result.proxyReadTimeout = proxyReadTimeout ?? parent.proxyReadTimeout
        result.proxyBufferSize = proxyBufferSize ?? parent.proxyBufferSize
        result.proxyBuffers = proxyBuffers ?? parent.proxyBuffers
        result.proxyBusyBuffersSize = proxyBusyBuffersSize ?? parent.proxyBusyBuffersSize
        if proxyNextUpstream == nil {
            result.proxyNextUpstream = parent.proxyNextUpstream
            result.proxyNextUpstreamOff = parent.proxyNextUpstreamOff
        }
        result.proxyNextUpstreamTries = proxyNextUpstreamTries ?? parent.proxyNextUpstreamTries
        result.proxyNextUpstreamTimeout = proxyNextUpstreamTimeout ?? parent.proxyNextUpstreamTimeout
        result.clientMaxBodySize = clientMaxBodySize ?? parent.clientMaxBodySize
        result.clientHeaderTimeout = clientHeaderTimeout ?? parent.clientHeaderTimeout
        result.clientBodyTimeout = clientBodyTimeout ?? parent.clientBodyTimeout
        result.keepaliveTimeout = keepaliveTimeout ?? parent.keepaliveTimeout
        result.keepaliveHeaderTimeout = keepaliveHeaderTimeout ?? parent.keepaliveHeaderTimeout
        result.keepaliveRequests = keepaliveRequests ?? parent.keepaliveRequests
        result.largeClientHeaderBuffers = largeClientHeaderBuffers ?? parent.largeClientHeaderBuffers
        result.underscoresInHeaders = underscoresInHeaders ?? parent.underscoresInHeaders
        result.ignoreInvalidHeaders = ignoreInvalidHeaders ?? parent.ignoreInvalidHeaders
        result.absoluteRedirect = absoluteRedirect ?? parent.absoluteRedirect
        result.portInRedirect = portInRedirect ?? parent.portInRedirect
        result.serverNameInRedirect = serverNameInRedirect ?? parent.serverNameInRedirect
        result.accessLogs = accessLogs ?? parent.accessLogs
        result.accessRules = accessRules ?? parent.accessRules
        result.realIPFrom = realIPFrom ?? parent.realIPFrom
        result.realIPHeader = realIPHeader ?? parent.realIPHeader
        return result
    }

    /// The effective settings, defaults filled in and nginx's buffer checks applied; errors are reported at
    /// `checkLocation` (nginx reports merge errors at the closing `}` of the http block).
    func resolved(checkLocation: SourceLocation) throws(ConfigError) -> ProxySettings {
        var settings = ProxySettings()
        if let value = proxyHTTPVersion { settings.proxyHTTPVersion = value }
        settings.accessLogs = accessLogs ?? []
        settings.accessRules = accessRules ?? []
        settings.realIPFrom = realIPFrom ?? []
        if !settings.realIPFrom.isEmpty && realIPHeader != "proxy_protocol" {
            // nginx's default real_ip_header is X-Real-IP; maitred takes the address from the PROXY header only.
            throw ConfigError(
                "\"set_real_ip_from\" needs \"real_ip_header proxy_protocol\" (maitred reads no other real_ip_header)",
                at: checkLocation)
        }
        settings.proxySetHeaders = Self.headersWithDefaults(proxySetHeaders ?? [])
        if let value = proxyConnectTimeout { settings.proxyConnectTimeout = value }
        if let value = proxySendTimeout { settings.proxySendTimeout = value }
        if let value = proxyReadTimeout { settings.proxyReadTimeout = value }
        if let value = proxyBufferSize { settings.proxyBufferSize = value }
        if let value = proxyBuffers { settings.proxyBuffers = value }
        if let value = proxyNextUpstream { settings.proxyNextUpstream = proxyNextUpstreamOff ? [] : value }
        if let value = proxyNextUpstreamTries { settings.proxyNextUpstreamTries = value }
        if let value = proxyNextUpstreamTimeout { settings.proxyNextUpstreamTimeout = value }
        if let value = clientMaxBodySize { settings.clientMaxBodySize = value }
        if let value = clientHeaderTimeout { settings.clientHeaderTimeout = value }
        if let value = clientBodyTimeout { settings.clientBodyTimeout = value }
        if let value = keepaliveTimeout { settings.keepaliveTimeout = value }
        // nginx's keepalive_header default is 0, meaning "send no Keep-Alive header".
        if let value = keepaliveHeaderTimeout, value.milliseconds > 0 { settings.keepaliveHeaderTimeout = value }
        if let value = keepaliveRequests { settings.keepaliveRequests = value }
        if let value = largeClientHeaderBuffers { settings.largeClientHeaderBuffers = value }
        if let value = underscoresInHeaders { settings.underscoresInHeaders = value }
        if let value = ignoreInvalidHeaders { settings.ignoreInvalidHeaders = value }
        if let value = absoluteRedirect { settings.absoluteRedirect = value }
        if let value = portInRedirect { settings.portInRedirect = value }
        if let value = serverNameInRedirect { settings.serverNameInRedirect = value }
        // nginx's connection_pool_size default on 64-bit systems (64 pointers).
        if settings.largeClientHeaderBuffers.size < 512 {
            throw ConfigError(
                "the \"large_client_header_buffers\" size must be equal to or greater than \"connection_pool_size\"",
                at: checkLocation)
        }

        if settings.proxyBuffers.count < 2 {
            throw ConfigError("there must be at least 2 \"proxy_buffers\"", at: checkLocation)
        }
        let largestBuffer = max(settings.proxyBufferSize, settings.proxyBuffers.size)
        settings.proxyBusyBuffersSize = proxyBusyBuffersSize ?? 2 * largestBuffer
        if settings.proxyBusyBuffersSize < largestBuffer {
            throw ConfigError(
                "\"proxy_busy_buffers_size\" must be equal to or greater than the maximum of the value of "
                    + "\"proxy_buffer_size\" and one of the \"proxy_buffers\"", at: checkLocation)
        }
        if settings.proxyBusyBuffersSize > (settings.proxyBuffers.count - 1) * settings.proxyBuffers.size {
            throw ConfigError(
                "\"proxy_busy_buffers_size\" must be less than the size of all \"proxy_buffers\" minus one buffer",
                at: checkLocation)
        }
        return settings
    }

    /// ngx_http_proxy_init_headers: the level's own headers in written order, then each default header whose name
    /// the level did not set (case-insensitively).
    static func headersWithDefaults(_ own: [HeaderSetting]) -> [HeaderSetting] {
        var headers = own
        for header in ProxySettings.defaultProxyHeaders
        where !own.contains(where: { $0.name.lowercased() == header.name.lowercased() }) {
            headers.append(header)
        }
        return headers
    }
}
