#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a parsed upstream response head says, as offsets into its bytes plus the few facts the proxy acts on.
public struct ResponseHead: Sendable {
    public var versionMinor: Int = 1
    public var status: Int = 0
    public var reasonStart = 0
    public var reasonEnd = 0
    /// The header lines in order (reused between responses: parse keeps the array's capacity).
    public var fields: [HeaderField] = []
    public var contentLength: Int64?
    /// Transfer-Encoding present, and whether its last coding is `chunked`.
    public var hasTransferEncoding = false
    public var isChunked = false
    public var connectionClose = false
    public var connectionKeepAlive = false
    /// Field indices of `Connection` headers (their tokens name more hop-by-hop headers).
    public var connectionFields: [Int] = []
    /// Bytes of the head, status line to the blank line included.
    public var length = 0

    public init() {
        fields.reserveCapacity(16)
    }

    /// HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 closes unless `keep-alive`.
    public var keepsConnection: Bool {
        versionMinor >= 1 ? !connectionClose : connectionKeepAlive && !connectionClose
    }
}

public enum HeadParseResult: Equatable, Sendable {
    /// The blank line that ends the head has not arrived yet.
    case incomplete
    /// The head is complete and `head.length` bytes long.
    case complete
    case invalid(String)
}

/// A strict HTTP/1.x status-line and header parser (RFC 9112) over raw bytes: no allocation once the field array
/// has grown, no strings. Rejects what could be read two ways (obsolete line folding, whitespace before the colon,
/// bare LF in the status line, conflicting Content-Length) so the proxy never forwards an ambiguous message.
public enum ResponseHeadParser {
    public static func parse(_ bytes: UnsafeRawBufferPointer, into head: inout ResponseHead, maxLength: Int) -> HeadParseResult {
        head.fields.removeAll(keepingCapacity: true)
        head.connectionFields.removeAll(keepingCapacity: true)
        head.contentLength = nil
        head.hasTransferEncoding = false
        head.isChunked = false
        head.connectionClose = false
        head.connectionKeepAlive = false

        guard let headEnd = findHeadEnd(bytes, limit: maxLength) else {
            return bytes.count >= maxLength ? .invalid("upstream sent too big header") : .incomplete
        }
        head.length = headEnd
        // Status line: HTTP/1.x SP 3DIGIT SP reason CRLF. "HTTP" is case-sensitive, as in nginx's
        // ngx_http_parse_status_line.
        guard bytes.count >= 12, bytes[0] == UInt8(ascii: "H"), bytes[1] == UInt8(ascii: "T"),
            bytes[2] == UInt8(ascii: "T"), bytes[3] == UInt8(ascii: "P"), bytes[4] == UInt8(ascii: "/"),
            bytes[5] == UInt8(ascii: "1"),
            bytes[6] == UInt8(ascii: "."), bytes[7] >= UInt8(ascii: "0"), bytes[7] <= UInt8(ascii: "9"),
            bytes[8] == UInt8(ascii: " ")
        else { return .invalid("upstream sent no valid HTTP/1.0 header") }
        head.versionMinor = Int(bytes[7] - UInt8(ascii: "0"))
        var status = 0
        for i in 9..<12 {
            let d = bytes[i]
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else {
                return .invalid("upstream sent invalid status")
            }
            status = status * 10 + Int(d - UInt8(ascii: "0"))
        }
        guard status >= 100 else { return .invalid("upstream sent invalid status") }
        head.status = status
        var p = 12
        guard let statusEnd = lineEnd(bytes, from: p, limit: headEnd) else {
            return .invalid("upstream sent invalid status line")
        }
        if p < statusEnd {
            guard bytes[p] == UInt8(ascii: " ") else { return .invalid("upstream sent invalid status line") }
            p += 1
        }
        head.reasonStart = p
        head.reasonEnd = statusEnd
        for i in p..<statusEnd where !FieldSyntax.isFieldValueByte(bytes[i]) {
            return .invalid("upstream sent invalid status line")
        }
        p = statusEnd + 2

        // Header fields until the blank line.
        while p < headEnd - 2 {
            guard let end = lineEnd(bytes, from: p, limit: headEnd) else { return .invalid("upstream sent invalid header") }
            let first = bytes[p]
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                return .invalid("upstream sent obsolete line folding")
            }
            var colon = p
            while colon < end && FieldSyntax.isTokenByte(bytes[colon]) { colon += 1 }
            guard colon > p, colon < end, bytes[colon] == UInt8(ascii: ":") else {
                return .invalid("upstream sent invalid header")
            }
            let (valueStart, valueEnd) = FieldSyntax.trimmingWhitespace(bytes, colon + 1, end)
            for i in valueStart..<valueEnd where !FieldSyntax.isFieldValueByte(bytes[i]) {
                return .invalid("upstream sent invalid header")
            }
            let field = HeaderField(nameStart: p, nameEnd: colon, valueStart: valueStart, valueEnd: valueEnd)
            if let problem = note(field, bytes, into: &head) { return .invalid(problem) }
            head.fields.append(field)
            p = end + 2
        }
        if head.hasTransferEncoding { head.contentLength = nil }
        return .complete
    }

    private static let bothFramings = "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"

    /// Records the framing and connection facts a field carries; returns a problem when it is malformed.
    private static func note(_ f: HeaderField, _ bytes: UnsafeRawBufferPointer, into head: inout ResponseHead) -> String? {
        if bytes.equalsLowercased(f.nameStart, f.nameEnd, "content-length") {
            var value: Int64 = 0
            guard f.valueEnd > f.valueStart, f.valueEnd - f.valueStart <= 18 else {
                return "upstream sent invalid \"Content-Length\" header"
            }
            for i in f.valueStart..<f.valueEnd {
                let d = bytes[i]
                guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else {
                    return "upstream sent invalid \"Content-Length\" header"
                }
                value = value * 10 + Int64(d - UInt8(ascii: "0"))
            }
            // nginx (ngx_http_upstream_process_content_length) refuses a second Content-Length, equal or not.
            if head.contentLength != nil { return "upstream sent duplicate header line: \"Content-Length\"" }
            if head.hasTransferEncoding { return bothFramings }
            head.contentLength = value
        } else if bytes.equalsLowercased(f.nameStart, f.nameEnd, "transfer-encoding") {
            // nginx accepts exactly one Transfer-Encoding, whose value is exactly `chunked`, and never together
            // with Content-Length (ngx_http_proxy_process_header): anything else could frame the body two ways.
            if head.hasTransferEncoding { return "upstream sent duplicate header line: \"Transfer-Encoding\"" }
            if head.contentLength != nil { return bothFramings }
            head.hasTransferEncoding = true
            guard bytes.equalsLowercased(f.valueStart, f.valueEnd, "chunked") else {
                return "upstream sent unknown \"Transfer-Encoding\""
            }
            head.isChunked = true
        } else if bytes.equalsLowercased(f.nameStart, f.nameEnd, "connection") {
            head.connectionFields.append(head.fields.count)
            FieldSyntax.forEachToken(bytes, f.valueStart, f.valueEnd) { s, e in
                if bytes.equalsLowercased(s, e, "close") { head.connectionClose = true }
                if bytes.equalsLowercased(s, e, "keep-alive") { head.connectionKeepAlive = true }
            }
        }
        return nil
    }

    /// Offset just past the CRLFCRLF that ends the head, or nil when it is not within `limit` bytes.
    static func findHeadEnd(_ bytes: UnsafeRawBufferPointer, limit: Int) -> Int? {
        let n = min(bytes.count, limit)
        guard n >= 4, let base = bytes.baseAddress else { return nil }
        var i = 3
        while i < n {
            // Jump to the next LF with memchr; a head ends at an LF preceded by CR LF CR.
            guard let found = memchr(base + i, Int32(UInt8(ascii: "\n")), n - i) else { return nil }
            i = base.distance(to: UnsafeRawPointer(found))
            if bytes[i - 1] == UInt8(ascii: "\r") && bytes[i - 2] == UInt8(ascii: "\n") && bytes[i - 3] == UInt8(ascii: "\r") {
                return i + 1
            }
            i += 1
        }
        return nil
    }

    /// Offset of the CR of the CRLF ending the line that starts at `from`; nil when the line ends in a bare LF.
    /// (A CR elsewhere in the line is refused by the callers' byte checks on names and values.)
    static func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int, limit: Int) -> Int? {
        guard from < limit, let base = bytes.baseAddress,
            let found = memchr(base + from, Int32(UInt8(ascii: "\n")), limit - from)
        else { return nil }
        let lf = base.distance(to: UnsafeRawPointer(found))
        return lf > from && bytes[lf - 1] == UInt8(ascii: "\r") ? lf - 1 : nil
    }
}
