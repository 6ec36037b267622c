import MaitreConfig
import NIOCore
import NIOHTTP1

/// A request ready to go upstream: its head already serialised, and the framing its body goes out in.
struct UpstreamRequest {
    var head: ByteBuffer
    /// The request-target sent (for the error log's `upstream: "http://ADDR/TARGET"`).
    var target: String
    var framing: BodyFraming

    var hasBody: Bool { framing != .none }
}

/// Builds the request head sent upstream as nginx's `ngx_http_proxy_create_request` does: the request line
/// with the rewritten target and `proxy_http_version`, then the `proxy_set_header` list (empty values left
/// out), then the body framing, then the client's own headers except those the list overrides and the
/// hop-by-hop ones. It writes the bytes directly: no header collection is built for the upstream side.
enum UpstreamRequestBuilder {
    static func build(
        for request: HTTPRequestHead, target: String, settings: ProxySettings, variables: RequestVariables,
        framing: BodyFraming, allocator: ByteBufferAllocator
    ) -> UpstreamRequest {
        var out = allocator.buffer(capacity: 256 + request.headers.count * 32)
        out.writeString(request.method.rawValue)
        out.writeStaticString(" ")
        out.writeString(target)
        out.writeStaticString(settings.proxyHTTPVersion == .http1_0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n")
        for setting in settings.proxySetHeaders {
            // Framing belongs to maitred: it streams the body with the framing chosen below.
            if setting.name.equalsIgnoringASCIICase("content-length")
                || setting.name.equalsIgnoringASCIICase("transfer-encoding")
            {
                continue
            }
            let value = variables.evaluate(setting.value)
            if !value.isEmpty { writeField(setting.name, value, into: &out) }
        }
        switch framing {
        case .none: break
        case .contentLength(let length):
            out.writeStaticString("Content-Length: ")
            out.writeString(String(length))
            out.writeStaticString("\r\n")
        case .chunked:
            out.writeStaticString("Transfer-Encoding: chunked\r\n")
        }
        let connectionNamed = HopByHop.namedInConnection(request.headers)
        for (name, value) in request.headers {
            if HopByHop.isRequestHopByHop(name) || HopByHop.isNamed(name, in: connectionNamed)
                || settings.proxySetHeaders.contains(where: { $0.name.equalsIgnoringASCIICase(name) })
            {
                continue
            }
            writeField(name, value, into: &out)
        }
        out.writeStaticString("\r\n")
        return UpstreamRequest(head: out, target: target, framing: framing)
    }

    @inline(__always)
    private static func writeField(_ name: String, _ value: String, into out: inout ByteBuffer) {
        out.writeString(name)
        out.writeStaticString(": ")
        out.writeString(value)
        out.writeStaticString("\r\n")
    }
}
