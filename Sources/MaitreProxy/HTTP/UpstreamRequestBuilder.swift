import MaitreConfig
import NIOCore
import MaitreWire

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
    /// `values` is scratch space reused between requests (it is emptied first). `buffer` is consumed so that it is
    /// uniquely referenced while written (a borrowed one would be copied on the first write).
    static func build(
        for request: ClientRequest, target: String, location: Location, variables: RequestVariables,
        framing: BodyFraming, into buffer: consuming ByteBuffer, values: inout [String]
    ) -> UpstreamRequest? {
        // Values first (they may use variables), then one upper bound for the whole head, then one write pass.
        let headers = location.preparedHeaders
        values.removeAll(keepingCapacity: true)
        // Copied lines come out at most 2 bytes longer than they came in (": " and CRLF for "Name:v" and LF).
        var maximum = request.bytes.readableBytes + 2 * request.head.fields.count + target.utf8.count + 64
        for header in headers {
            // Framing belongs to maitred: it streams the body with the framing chosen below.
            let value = header.isFraming ? "" : header.constantValue ?? variables.evaluate(header.template)
            values.append(value)
            if !value.isEmpty { maximum += header.name.utf8.count + value.utf8.count + 4 }
        }

        let head = request.head
        let http10 = location.settings.proxyHTTPVersion == .http1_0
        var out = buffer
        let fitted = request.withRaw { raw in
            out.writeRuns(maximum: maximum) { w in
                w.add(UnsafeRawBufferPointer(rebasing: raw[head.methodStart..<head.methodEnd]))
                w.add(" ")
                w.add(target)
                w.add(http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n")
                for index in headers.indices where !values[index].isEmpty {
                    w.add(headers[index].name)
                    w.add(": ")
                    w.add(values[index])
                    w.add("\r\n")
                }
                switch framing {
                case .none: break
                case .contentLength(let length):
                    w.add("Content-Length: ")
                    w.add(String(length))
                    w.add("\r\n")
                case .chunked:
                    w.add("Transfer-Encoding: chunked\r\n")
                }
                // The client's own lines, copied byte for byte.
                for field in head.fields {
                    if HopByHop.isRequestHopByHop(field, raw)
                        || FieldSyntax.isNamedInConnection(
                            field, connectionFields: head.connectionFields, fields: head.fields, raw)
                        || isOverridden(field, by: headers, raw)
                    {
                        continue
                    }
                    w.add(UnsafeRawBufferPointer(rebasing: raw[field.nameStart..<field.nameEnd]))
                    w.add(": ")
                    w.add(UnsafeRawBufferPointer(rebasing: raw[field.valueStart..<field.valueEnd]))
                    w.add("\r\n")
                }
                w.add("\r\n")
            }
        }
        // The bound above covers every byte written; a miss is a bug that must cost one request, not the process.
        guard fitted else { return nil }
        return UpstreamRequest(head: out, target: target, framing: framing)
    }

    /// A `proxy_set_header` names this client header (set to a value or to "" to remove it).
    private static func isOverridden(
        _ field: HeaderField, by headers: [PreparedHeader], _ raw: UnsafeRawBufferPointer
    ) -> Bool {
        let count = field.nameEnd - field.nameStart
        for header in headers where header.lowercasedName.count == count {
            var same = true
            for i in 0..<count where FieldSyntax.lowercased(raw[field.nameStart + i]) != header.lowercasedName[i] {
                same = false
                break
            }
            if same { return true }
        }
        return false
    }
}
