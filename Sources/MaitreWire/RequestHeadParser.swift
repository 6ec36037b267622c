#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a parsed client request head says, as offsets into its bytes plus the facts the proxy acts on.
public struct RequestHead: Sendable {
    /// Offset of the request line (blank lines before it are skipped, as RFC 9112 §2.2 allows).
    public var methodStart = 0
    public var methodEnd = 0
    public var targetStart = 0
    public var targetEnd = 0
    /// Where the request line's content ends (before its CR LF): nginx's `$request` is the line as sent, with its
    /// spaces and version digits.
    public var requestLineEnd = 0
    /// 0 for HTTP/1.0, 1 for HTTP/1.1 and later 1.x (nginx serves `HTTP/1.2` as 1.1).
    public var versionMinor = 1
    /// The header lines that are forwarded and looked up, in order. Lines nginx ignores by default (names
    /// with characters other than letters, digits and `-`, lines without a colon) are not in it.
    public var fields: [HeaderField] = []
    public var hostField: Int?
    public var contentLength: Int64?
    public var transferEncodingField: Int?
    /// The only Transfer-Encoding is exactly `chunked` (any other coding: nginx answers 501).
    public var isChunked = false
    public var connectionClose = false
    public var connectionKeepAlive = false
    /// Field indices of `Connection` headers (their tokens name more hop-by-hop headers).
    public var connectionFields: [Int] = []
    public var expectsContinue = false
    /// Bytes of the head, leading blank lines and the final blank line included. For a refused head: the bytes
    /// nginx counts in `$request_length` by then (0 when the request line was refused; header lines up to the
    /// refused one, or through it when nginx took the line before refusing it, as a duplicate Host).
    public var length = 0
    /// For a refused head: where the header lines nginx had taken end (0 when the request line was refused).
    /// `fields` holds exactly those lines, so a log can still show `$request` and `$http_*` as nginx does.
    public var acceptedLength = 0
    /// A malformed Content-Length value was read: nginx refuses it only once the whole head is in, so lines after
    /// it are still read (and logged). A flag, not the error itself: an enum with a string payload here would make
    /// every copy of the head a non-trivial one.
    var contentLengthRefused = false

    public init() {
        self.init(reserving: true)
    }

    /// Back to a fresh head, keeping the arrays' memory (parsing allocates nothing once they have grown). Every other
    /// property takes its initial value, so a property added later is reset too.
    mutating func reset() {
        var fresh = RequestHead(reserving: false)
        swap(&fresh.fields, &fields)
        swap(&fresh.connectionFields, &connectionFields)
        fresh.fields.removeAll(keepingCapacity: true)
        fresh.connectionFields.removeAll(keepingCapacity: true)
        self = fresh
    }

    private init(reserving: Bool) {
        if reserving { fields.reserveCapacity(16) }
    }

    /// HTTP/1.1 keeps the connection unless `Connection: close`; HTTP/1.0 closes unless `keep-alive`.
    public var isKeepAlive: Bool {
        versionMinor >= 1 ? !connectionClose : connectionKeepAlive && !connectionClose
    }

    public var hasBody: Bool { isChunked || (contentLength ?? 0) > 0 }
}

/// Why a request head is refused, with the status nginx answers it with.
public enum RequestHeadError: Error, Equatable, Sendable {
    /// 400 "client sent invalid request".
    case invalidRequestLine
    /// 400 "client sent invalid header line".
    case invalidHeader
    /// 414: the request line is longer than one large header buffer.
    case requestLineTooLong
    /// 400 (nginx's 494): a header line longer than one large buffer, or a head larger than all of them.
    case headerTooLarge
    /// 505: a major version other than 1.
    case versionNotSupported
    /// 400 "client sent duplicate header line" (Host, Content-Length, Transfer-Encoding).
    case duplicateHeader(String)
    /// 400 "client sent invalid Content-Length header".
    case invalidContentLength
    /// 501 "client sent unknown Transfer-Encoding".
    case unknownTransferEncoding

    public var status: Int {
        switch self {
        case .requestLineTooLong: return 414
        case .versionNotSupported: return 505
        case .unknownTransferEncoding: return 501
        case .invalidRequestLine, .invalidHeader, .headerTooLarge, .duplicateHeader, .invalidContentLength: return 400
        }
    }

    /// The error log's wording (nginx's).
    public var message: String {
        switch self {
        case .invalidRequestLine: return "client sent invalid request"
        case .invalidHeader: return "client sent invalid header line"
        case .requestLineTooLong: return "client sent too long URI"
        case .headerTooLarge: return "client sent too large request"
        case .versionNotSupported: return "client sent unsupported HTTP version"
        case .duplicateHeader(let name): return "client sent duplicate header line: \"\(name)\""
        case .invalidContentLength: return "client sent invalid \"Content-Length\" header"
        case .unknownTransferEncoding: return "client sent unknown \"Transfer-Encoding\""
        }
    }
}

public enum RequestParseResult: Equatable, Sendable {
    /// The blank line that ends the head has not arrived yet.
    case incomplete
    /// The head is complete and `head.length` bytes long.
    case complete
    case invalid(RequestHeadError)
}

/// An HTTP/1.x request-line and header parser over raw bytes, accepting what nginx accepts where that is safe
/// (bare LF line ends, several spaces between request-line parts, headers it ignores by default) and refusing
/// what could be read two ways (obsolete folding, whitespace before the colon, bare CR, NUL, duplicate framing
/// headers). No allocation once the field array has grown, no strings.
public enum RequestHeadParser {
    /// nginx's `large_client_header_buffers 4 8k`: a line up to one buffer, the head up to all four.
    public static let defaultLineLimit = 8 * 1024
    public static let defaultHeadLimit = 32 * 1024

    /// `underscoresInNames`, `ignoreInvalidNames`: nginx's `underscores_in_headers` (default off) and
    /// `ignore_invalid_headers` (default on). With the latter off, names of token characters nginx would have
    /// ignored are kept; a line without a colon or a name with other bytes is refused.
    public static func parse(
        _ bytes: UnsafeRawBufferPointer, into head: inout RequestHead,
        lineLimit: Int = defaultLineLimit, headLimit: Int = defaultHeadLimit,
        underscoresInNames: Bool = false, ignoreInvalidNames: Bool = true
    ) -> RequestParseResult {
        head.reset()
        var p = 0
        while p < bytes.count && (bytes[p] == UInt8(ascii: "\r") || bytes[p] == UInt8(ascii: "\n")) { p += 1 }
        if p >= headLimit { return .invalid(.invalidRequestLine) }
        guard let lineEnd = findLF(bytes, from: p, limit: lineLimit) else {
            return bytes.count - p > lineLimit ? .invalid(.requestLineTooLong) : .incomplete
        }
        let requestLineEnd = contentEnd(bytes, p, lineEnd)
        if let error = parseRequestLine(bytes, from: p, to: requestLineEnd, into: &head) {
            return refused(error, at: 0, &head)
        }
        head.requestLineEnd = requestLineEnd
        p = lineEnd + 1

        while true {
            guard let end = findLF(bytes, from: p, limit: lineLimit) else {
                if bytes.count - p > lineLimit || bytes.count >= headLimit { return refused(.headerTooLarge, at: p, &head) }
                return .incomplete
            }
            if end + 1 > headLimit { return refused(.headerTooLarge, at: p, &head) }
            let lineContentEnd = contentEnd(bytes, p, end)
            if lineContentEnd == p {
                head.length = end + 1
                if head.contentLengthRefused {
                    head.acceptedLength = end + 1
                    return .invalid(.invalidContentLength)
                }
                return .complete
            }
            if let error = parseField(
                bytes, from: p, to: lineContentEnd, into: &head, underscoresInNames: underscoresInNames,
                ignoreInvalidNames: ignoreInvalidNames)
            {
                let result = refused(error, at: p, &head)
                // nginx counts a line it took and then refused as a duplicate.
                if case .duplicateHeader = error { head.length = end + 1 }
                return result
            }
            p = end + 1
        }
    }

    /// A line refused at `lineStart`: the lines before it are what nginx had taken (none for the request line).
    private static func refused(_ error: RequestHeadError, at lineStart: Int, _ head: inout RequestHead) -> RequestParseResult {
        head.length = lineStart
        head.acceptedLength = lineStart
        return .invalid(error)
    }

    /// Offset of the next LF at or after `from`, looked for within `limit` bytes of it.
    @inline(__always)
    static func findLF(_ bytes: UnsafeRawBufferPointer, from: Int, limit: Int) -> Int? {
        let n = min(bytes.count - from, limit + 1)
        guard n > 0, let base = bytes.baseAddress else { return nil }
        guard let found = memchr(base + from, Int32(UInt8(ascii: "\n")), n) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }

    /// Where a line's content ends: before its CR LF, or before a bare LF.
    @inline(__always)
    static func contentEnd(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ lf: Int) -> Int {
        lf > start && bytes[lf - 1] == UInt8(ascii: "\r") ? lf - 1 : lf
    }

    /// `METHOD SP+ target SP+ HTTP/1.x SP*`. Methods are uppercase letters, `_` and `-`, as nginx takes them.
    static func parseRequestLine(
        _ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int, into head: inout RequestHead
    ) -> RequestHeadError? {
        var p = start
        while p < end, isMethodByte(bytes[p]) { p += 1 }
        guard p > start, p < end, bytes[p] == UInt8(ascii: " ") else { return .invalidRequestLine }
        head.methodStart = start
        head.methodEnd = p
        while p < end && bytes[p] == UInt8(ascii: " ") { p += 1 }
        head.targetStart = p
        while p < end && bytes[p] > 0x20 && bytes[p] != 0x7F { p += 1 }
        head.targetEnd = p
        guard p > head.targetStart, p < end, bytes[p] == UInt8(ascii: " ") else { return .invalidRequestLine }
        while p < end && bytes[p] == UInt8(ascii: " ") { p += 1 }

        guard end - p >= 8, bytes[p] == UInt8(ascii: "H"), bytes[p + 1] == UInt8(ascii: "T"),
            bytes[p + 2] == UInt8(ascii: "T"), bytes[p + 3] == UInt8(ascii: "P"), bytes[p + 4] == UInt8(ascii: "/")
        else { return .invalidRequestLine }
        p += 5
        // Major: one digit 1-9 (nginx takes up to 99, any but 1 is 505); minor: 1 to 3 digits.
        var major = 0
        while p < end, let d = digit(bytes[p]) {
            if major == 0 && d == 0 { return .invalidRequestLine }
            major = major * 10 + d
            guard major < 100 else { return .invalidRequestLine }
            p += 1
        }
        guard major > 0, p < end, bytes[p] == UInt8(ascii: ".") else { return .invalidRequestLine }
        p += 1
        var minor = 0
        var minorDigits = 0
        while p < end, let d = digit(bytes[p]) {
            minor = minor * 10 + d
            minorDigits += 1
            guard minorDigits <= 3 else { return .invalidRequestLine }
            p += 1
        }
        guard minorDigits > 0 else { return .invalidRequestLine }
        while p < end && bytes[p] == UInt8(ascii: " ") { p += 1 }
        guard p == end else { return .invalidRequestLine }
        guard major == 1 else { return .versionNotSupported }
        head.versionMinor = min(minor, 1)
        return nil
    }

    static func parseField(
        _ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int, into head: inout RequestHead,
        underscoresInNames: Bool, ignoreInvalidNames: Bool
    ) -> RequestHeadError? {
        let first = bytes[start]
        if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { return .invalidHeader }  // obsolete folding
        var colon = start
        var ignored = false
        while colon < end {
            let b = bytes[colon]
            colon += 1
            if FieldSyntax.isPlainNameByte(b) { continue }
            if b == UInt8(ascii: ":") {
                colon -= 1
                break
            }
            // nginx: a space or tab ends the name (then anything but the colon is an error); NUL is an error;
            // any other byte (`_` unless allowed, `.`, non-ASCII...) makes the line invalid, which it ignores
            // by default. Kept invalid names must still be tokens: nothing ambiguous is forwarded.
            if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == 0 || b == UInt8(ascii: "\r") {
                return .invalidHeader
            }
            if b == UInt8(ascii: "_") && underscoresInNames { continue }
            if !ignoreInvalidNames && !FieldSyntax.isTokenByte(b) { return .invalidHeader }
            ignored = true
        }
        if colon == start { return .invalidHeader }
        if colon >= end {
            // A line without a colon: nginx ignores it by default (unless it carries CR or NUL).
            guard ignoreInvalidNames else { return .invalidHeader }
            for i in start..<end where bytes[i] == UInt8(ascii: "\r") || bytes[i] == 0 { return .invalidHeader }
            return nil
        }
        let (valueStart, valueEnd) = FieldSyntax.trimmingWhitespace(bytes, colon + 1, end)
        for i in valueStart..<valueEnd {
            let b = bytes[i]
            // nginx passes other control bytes through; CR and NUL could end or split the line downstream.
            if b == UInt8(ascii: "\r") || b == 0 { return .invalidHeader }
        }
        // A name nginx does not take (underscores_in_headers off, ignore_invalid_headers on): dropped,
        // neither looked at nor forwarded.
        if ignored && ignoreInvalidNames { return nil }
        let field = HeaderField(nameStart: start, nameEnd: colon, valueStart: valueStart, valueEnd: valueEnd)
        if let error = note(field, bytes, into: &head) { return error }
        head.fields.append(field)
        return nil
    }

    /// Records the framing and connection facts a field carries; returns an error when it is malformed.
    private static func note(_ f: HeaderField, _ bytes: UnsafeRawBufferPointer, into head: inout RequestHead) -> RequestHeadError? {
        switch f.nameEnd - f.nameStart {
        case 4 where bytes.equalsLowercased(f.nameStart, f.nameEnd, "host"):
            if head.hostField != nil { return .duplicateHeader("Host") }
            head.hostField = head.fields.count
        case 6 where bytes.equalsLowercased(f.nameStart, f.nameEnd, "expect"):
            head.expectsContinue = bytes.equalsLowercased(f.valueStart, f.valueEnd, "100-continue")
        case 10 where bytes.equalsLowercased(f.nameStart, f.nameEnd, "connection"):
            head.connectionFields.append(head.fields.count)
            FieldSyntax.forEachToken(bytes, f.valueStart, f.valueEnd) { s, e in
                if bytes.equalsLowercased(s, e, "close") { head.connectionClose = true }
                if bytes.equalsLowercased(s, e, "keep-alive") { head.connectionKeepAlive = true }
            }
        case 14 where bytes.equalsLowercased(f.nameStart, f.nameEnd, "content-length"):
            if head.contentLength != nil || head.contentLengthRefused { return .duplicateHeader("Content-Length") }
            guard let value = contentLength(bytes, f.valueStart, f.valueEnd) else {
                head.contentLengthRefused = true
                return nil
            }
            head.contentLength = value
        case 17 where bytes.equalsLowercased(f.nameStart, f.nameEnd, "transfer-encoding"):
            if head.transferEncodingField != nil { return .duplicateHeader("Transfer-Encoding") }
            head.transferEncodingField = head.fields.count
            head.isChunked = bytes.equalsLowercased(f.valueStart, f.valueEnd, "chunked")
        default:
            break
        }
        return nil
    }

    /// 1 to 18 digits, nothing else (nginx's `ngx_atoof` on the whole value).
    private static func contentLength(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Int64? {
        guard end > start, end - start <= 18 else { return nil }
        var value: Int64 = 0
        for i in start..<end {
            guard let d = digit(bytes[i]) else { return nil }
            value = value * 10 + Int64(d)
        }
        return value
    }

    @inline(__always)
    static func digit(_ b: UInt8) -> Int? {
        b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") ? Int(b - UInt8(ascii: "0")) : nil
    }

    @inline(__always)
    static func isMethodByte(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z")) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
    }
}
