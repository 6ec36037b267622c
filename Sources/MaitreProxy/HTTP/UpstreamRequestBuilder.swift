import MaitreConfig
import NIOHTTP1

/// Builds the request head sent upstream as nginx's `ngx_http_proxy_create_request` does: the request line
/// with the rewritten target and `proxy_http_version`, then the `proxy_set_header` list (empty values left
/// out), then the body framing, then the client's own headers except those the list overrides and the
/// hop-by-hop ones.
enum UpstreamRequestBuilder {
    static func head(
        for request: HTTPRequestHead, target: String, settings: ProxySettings, variables: RequestVariables,
        framing: BodyFraming
    ) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headers.count + settings.proxySetHeaders.count + 1)
        for setting in settings.proxySetHeaders {
            // Framing belongs to maitred: it streams the body with the framing chosen below.
            if setting.name.equalsIgnoringASCIICase("content-length")
                || setting.name.equalsIgnoringASCIICase("transfer-encoding")
            {
                continue
            }
            let value = variables.evaluate(setting.value)
            if !value.isEmpty { headers.add(name: setting.name, value: value) }
        }
        switch framing {
        case .none: break
        case .contentLength(let length): headers.add(name: "Content-Length", value: String(length))
        case .chunked: headers.add(name: "Transfer-Encoding", value: "chunked")
        }
        let connectionNamed = HopByHop.namedInConnection(request.headers)
        for (name, value) in request.headers {
            if HopByHop.isRequestHopByHop(name) || HopByHop.isNamed(name, in: connectionNamed)
                || settings.proxySetHeaders.contains(where: { $0.name.equalsIgnoringASCIICase(name) })
            {
                continue
            }
            headers.add(name: name, value: value)
        }
        let version: HTTPVersion = settings.proxyHTTPVersion == .http1_0 ? .http1_0 : .http1_1
        return HTTPRequestHead(version: version, method: request.method, uri: target, headers: headers)
    }
}
