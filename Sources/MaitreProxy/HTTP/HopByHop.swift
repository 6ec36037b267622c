import NIOHTTP1

/// Headers that describe one connection rather than the message (RFC 9110 §7.6.1): never forwarded.
/// Lookups compare without lowercasing so the per-request path allocates nothing.
enum HopByHop {
    /// Client request headers nginx's proxy module never passes on (its `ngx_http_proxy_headers` list), plus
    /// `Trailer`.
    static let requestHeaders: [String] = [
        "host", "connection", "proxy-connection", "content-length", "transfer-encoding", "te", "keep-alive",
        "expect", "upgrade", "trailer",
    ]

    /// Upstream response headers not passed to the client: hop-by-hop ones, framing (re-done per client), and
    /// those nginx hides by default (`Date`, `Server`, `X-Pad`, `X-Accel-*`) since the proxy sets its own.
    static let responseHeaders: [String] = [
        "connection", "proxy-connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "date", "server", "x-pad", "x-accel-expires", "x-accel-redirect", "x-accel-limit-rate",
        "x-accel-buffering", "x-accel-charset",
    ]

    static func isRequestHopByHop(_ name: String) -> Bool {
        requestHeaders.contains { $0.equalsIgnoringASCIICase(name) }
    }

    static func isHiddenResponseHeader(_ name: String) -> Bool {
        responseHeaders.contains { $0.equalsIgnoringASCIICase(name) }
    }

    /// Names listed in `Connection` headers (`Connection: keep-alive, X-Foo`): also hop-by-hop. Empty (and no
    /// allocation) when there is no Connection header, the common case.
    static func namedInConnection(_ headers: HTTPHeaders) -> [Substring] {
        var names: [Substring] = []
        for value in headers["connection"] {
            for token in value.split(separator: ",") {
                let name = token.trimmingASCIISpaces()
                if !name.isEmpty { names.append(name) }
            }
        }
        return names
    }

    static func isNamed(_ name: String, in list: [Substring]) -> Bool {
        !list.isEmpty && list.contains { $0.equalsIgnoringASCIICase(name) }
    }
}
