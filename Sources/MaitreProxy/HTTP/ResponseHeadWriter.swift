import MaitreConfig
import MaitreWire
import NIOCore
import NIOHTTP1

/// Writes the client's response head from an upstream head by copying its header lines byte for byte, except
/// the hop-by-hop ones, those named in its Connection headers, framing (decided per client) and those nginx
/// hides (`Date`, `Server`, `X-Pad`, `X-Accel-*`, replaced by maitred's own `Server` and `Date`).
enum ResponseHeadWriter {
    /// False when the head did not fit the computed bound (nothing is written then): the caller answers 502
    /// rather than send a truncated head. The bound is exact enough that this only guards against a mistake.
    static func write(
        _ upstream: UpstreamResponseHead, date: String, framingHeader: StaticString?,
        keepAlive: Bool, keepAliveHeader: TimeSpan?, addedLine: String? = nil, into out: inout ByteBuffer
    ) -> Bool {
        let parsed = upstream.parsed
        // Everything copied comes from the upstream head, each line at most 2 bytes longer than it came in
        // (": " and CRLF for "Name:v" and a bare LF); what is added is bounded (status line, Server, Date,
        // framing, Connection, Keep-Alive, a standard reason phrase).
        let maximum = upstream.bytes.readableBytes + 2 * parsed.fields.count + date.utf8.count + 256
            + (addedLine?.utf8.count ?? 0)
        return upstream.bytes.withUnsafeReadableBytes { raw in
            out.writeRuns(maximum: maximum) { w in
                // nginx's status line says HTTP/1.1 whatever the client's version (RFC 9110 §2.5 allows it).
                w.add("HTTP/1.1 ")
                // The parser accepted exactly three digits.
                let status = parsed.status
                w.add(byte: UInt8(ascii: "0") + UInt8(status / 100))
                w.add(byte: UInt8(ascii: "0") + UInt8(status / 10 % 10))
                w.add(byte: UInt8(ascii: "0") + UInt8(status % 10))
                w.add(" ")
                if parsed.reasonEnd > parsed.reasonStart {
                    w.add(UnsafeRawBufferPointer(rebasing: raw[parsed.reasonStart..<parsed.reasonEnd]))
                } else {
                    w.add(HTTPResponseStatus(statusCode: status).reasonPhrase)
                }
                w.add("\r\nServer: maitre\r\nDate: ")
                w.add(date)
                w.add("\r\n")
                for index in parsed.fields.indices {
                    let field = parsed.fields[index]
                    if isDropped(field, index: index, parsed: parsed, raw) { continue }
                    w.add(UnsafeRawBufferPointer(rebasing: raw[field.nameStart..<field.nameEnd]))
                    w.add(": ")
                    w.add(UnsafeRawBufferPointer(rebasing: raw[field.valueStart..<field.valueEnd]))
                    w.add("\r\n")
                }
                // A line maitred adds after the upstream's own (sticky's Set-Cookie), CRLF included.
                if let addedLine { w.add(addedLine) }
                if let framingHeader { w.add(framingHeader) }
                w.add(keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n")
                if let keepAliveHeader {
                    w.add("Keep-Alive: timeout=")
                    w.add(String(keepAliveHeader.wholeSeconds))
                    w.add("\r\n")
                }
                w.add("\r\n")
            }
        }
    }

    private static func isDropped(
        _ field: HeaderField, index: Int, parsed: ResponseHead, _ raw: UnsafeRawBufferPointer
    ) -> Bool {
        isHidden(field, raw)
            || FieldSyntax.isNamedInConnection(field, connectionFields: parsed.connectionFields, fields: parsed.fields, raw)
    }

    private static func isHidden(_ field: HeaderField, _ raw: UnsafeRawBufferPointer) -> Bool {
        let s = field.nameStart
        let e = field.nameEnd
        switch e - s {
        case 2: return raw.equalsLowercased(s, e, "te")
        case 4: return raw.equalsLowercased(s, e, "date")
        case 5: return raw.equalsLowercased(s, e, "x-pad")
        case 6: return raw.equalsLowercased(s, e, "server")
        case 7: return raw.equalsLowercased(s, e, "trailer") || raw.equalsLowercased(s, e, "upgrade")
        case 10: return raw.equalsLowercased(s, e, "connection") || raw.equalsLowercased(s, e, "keep-alive")
        case 15: return raw.equalsLowercased(s, e, "x-accel-expires") || raw.equalsLowercased(s, e, "x-accel-charset")
        case 16: return raw.equalsLowercased(s, e, "proxy-connection") || raw.equalsLowercased(s, e, "x-accel-redirect")
        case 17: return raw.equalsLowercased(s, e, "transfer-encoding") || raw.equalsLowercased(s, e, "x-accel-buffering")
        case 18: return raw.equalsLowercased(s, e, "x-accel-limit-rate")
        default: return false
        }
    }
}
