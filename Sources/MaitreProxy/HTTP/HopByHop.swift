import NIOHTTP1

/// Headers that describe one connection rather than the message (RFC 9110 §7.6.1): never forwarded.
enum HopByHop {
    /// Client request headers nginx's proxy module never passes on (its `ngx_http_proxy_headers` list), plus
    /// `Trailer`.
    static let requestHeaders: Set<String> = [
        "host", "connection", "proxy-connection", "content-length", "transfer-encoding", "te", "keep-alive",
        "expect", "upgrade", "trailer",
    ]

    /// Upstream response headers not passed to the client: hop-by-hop ones, framing (re-done per client), and
    /// those nginx hides by default (`Date`, `Server`, `X-Pad`, `X-Accel-*`) since the proxy sets its own.
    static let responseHeaders: Set<String> = [
        "connection", "proxy-connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
        "date", "server", "x-pad", "x-accel-expires", "x-accel-redirect", "x-accel-limit-rate",
        "x-accel-buffering", "x-accel-charset",
    ]

    /// Lowercased names listed in `Connection` headers (`Connection: keep-alive, X-Foo`): also hop-by-hop.
    static func namedInConnection(_ headers: HTTPHeaders) -> Set<String> {
        var names = Set<String>()
        for value in headers["connection"] {
            for token in value.split(separator: ",") {
                let name = token.trimmingASCIISpaces().lowercased()
                if !name.isEmpty { names.insert(name) }
            }
        }
        return names
    }

    static func connectionTokens(_ headers: HTTPHeaders) -> Set<String> { namedInConnection(headers) }
}
