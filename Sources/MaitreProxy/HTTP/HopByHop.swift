import NIOHTTP1

/// Request headers that describe one connection rather than the message (RFC 9110 §7.6.1): never forwarded.
/// (The response side is ResponseHeadWriter's.)
/// Lookups compare without lowercasing so the per-request path allocates nothing.
enum HopByHop {
    /// Client request headers nginx's proxy module never passes on (its `ngx_http_proxy_headers` list), plus
    /// `Trailer`.
    static let requestHeaders: [String] = [
        "host", "connection", "proxy-connection", "content-length", "transfer-encoding", "te", "keep-alive",
        "expect", "upgrade", "trailer",
    ]

    static func isRequestHopByHop(_ name: String) -> Bool {
        requestHeaders.contains { $0.equalsIgnoringASCIICase(name) }
    }

    /// Names listed in `Connection` headers (`Connection: keep-alive, X-Foo`): also hop-by-hop. Empty (and no
    /// allocation) when there is no Connection header, the common case.
    static func namedInConnection(_ headers: HTTPHeaders) -> [Substring] {
        guard headers.contains(name: "connection") else { return [] }
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
