import MaitreConfig
import MaitreWire
import NIOCore
import NIOHTTP1

/// Writes the client's response head from an upstream head by copying its header lines byte for byte, except
/// the hop-by-hop ones, those named in its Connection headers, framing (decided per client) and those nginx
/// hides (`Date`, `Server`, `X-Pad`, `X-Accel-*`, replaced by maitred's own `Server` and `Date`).
enum ResponseHeadWriter {
    static func write(
        _ upstream: UpstreamResponseHead, clientVersion: HTTPVersion, date: String, framingHeader: StaticString?,
        keepAlive: Bool, keepAliveHeader: TimeSpan?, into out: inout ByteBuffer
    ) {
        let parsed = upstream.parsed
        upstream.bytes.withUnsafeReadableBytes { raw in
            out.writeStaticString(clientVersion == .http1_0 ? "HTTP/1.0 " : "HTTP/1.1 ")
            // The parser accepted exactly three digits.
            let status = parsed.status
            out.writeInteger(UInt8(ascii: "0") + UInt8(status / 100))
            out.writeInteger(UInt8(ascii: "0") + UInt8(status / 10 % 10))
            out.writeInteger(UInt8(ascii: "0") + UInt8(status % 10))
            out.writeStaticString(" ")
            if parsed.reasonEnd > parsed.reasonStart {
                out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[parsed.reasonStart..<parsed.reasonEnd]))
            } else {
                out.writeString(HTTPResponseStatus(statusCode: parsed.status).reasonPhrase)
            }
            out.writeStaticString("\r\nServer: maitre\r\nDate: ")
            out.writeString(date)
            out.writeStaticString("\r\n")
            for (index, field) in parsed.fields.enumerated() {
                if isDropped(field, index: index, parsed: parsed, raw) { continue }
                out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[field.nameStart..<field.nameEnd]))
                out.writeStaticString(": ")
                out.writeBytes(UnsafeRawBufferPointer(rebasing: raw[field.valueStart..<field.valueEnd]))
                out.writeStaticString("\r\n")
            }
        }
        if let framingHeader { out.writeStaticString(framingHeader) }
        out.writeStaticString(keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n")
        if let keepAliveHeader {
            out.writeStaticString("Keep-Alive: timeout=")
            out.writeString(String(keepAliveHeader.wholeSeconds))
            out.writeStaticString("\r\n")
        }
        out.writeStaticString("\r\n")
    }

    private static func isDropped(
        _ field: HeaderField, index: Int, parsed: ResponseHead, _ raw: UnsafeRawBufferPointer
    ) -> Bool {
        isHidden(field, raw) || isNamedInConnection(field, parsed, raw)
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

    /// True when a Connection header lists this field's name.
    private static func isNamedInConnection(_ field: HeaderField, _ parsed: ResponseHead, _ raw: UnsafeRawBufferPointer) -> Bool {
        guard !parsed.connectionFields.isEmpty else { return false }
        var named = false
        for index in parsed.connectionFields {
            let connection = parsed.fields[index]
            ResponseHeadParser.forEachToken(raw, connection.valueStart, connection.valueEnd) { s, e in
                if e - s == field.nameEnd - field.nameStart, equalIgnoringCase(raw, s, field.nameStart, e - s) {
                    named = true
                }
            }
        }
        return named
    }

    private static func equalIgnoringCase(_ raw: UnsafeRawBufferPointer, _ a: Int, _ b: Int, _ count: Int) -> Bool {
        for i in 0..<count where raw[a + i] | 0x20 != raw[b + i] | 0x20 {
            return false
        }
        return true
    }
}
