#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreConfig

/// Writes one access-log line for a finished request, as nginx's log module does: literals as written, each
/// variable's value escaped as the format says, `-` for a value that does not exist (an absent header, no
/// upstream), nginx's number formats (`0.004` seconds with millisecond precision, `10.0.0.1:80, 10.0.0.2:80`
/// for a request that tried two servers). Appends to a caller's buffer: nothing is allocated per line beyond the
/// few strings some variables need. The request is passed to each call, borrowed: holding a copy would retain
/// every reference it carries, per line.
struct AccessLogLine {
    let clock: LogClock
    /// The logger's index of the request head's lines, reset for each request end (nil: scan per variable).
    var headerLines: HeaderLines? = nil

    /// The format is read in place through a pointer into the configuration's array: passing a `LogFormat` by
    /// value retains each of its arrays and strings, per line.
    func write(_ log: UnsafePointer<AccessLog>, end: RequestEnd, into out: inout LogBytes) {
        let escape = log.pointee.format.escape
        // Taken out once per line and lent to each variable (every `end.request` read copies the record).
        let request = end.request
        log.pointee.format.literals.withUnsafeBufferPointer { literals in
            log.pointee.format.variables.withUnsafeBufferPointer { variables in
                for step in log.pointee.format.steps {
                    if step.literalEnd > step.literalStart {
                        out.append(UnsafeBufferPointer(rebasing: literals[step.literalStart..<step.literalEnd]))
                    }
                    // The variable is read in place (a copy would retain its payload, per variable per line).
                    if step.variable >= 0, let base = variables.baseAddress,
                        !append(base + step.variable, escape: escape, end: end, request: request, to: &out)
                    {
                        out.append(UInt8(ascii: "-"))
                    }
                }
            }
        }
        out.append(UInt8(ascii: "\n"))
    }

    /// True when an `if=` condition lets the line through: not empty and not "0".
    func allows(_ condition: VariableTemplate, end: RequestEnd) -> Bool {
        Self.condition(condition) { variable, value in _ = append(variable, escape: .none, end: end, to: &value) }
    }

    /// An `if=` condition evaluated with `append` giving each variable's value: not empty and not "0".
    static func condition(_ condition: VariableTemplate, _ append: (Variable, inout LogBytes) -> Void) -> Bool {
        var value = LogBytes(capacity: 64)
        for part in condition.parts {
            switch part {
            case .literal(let text): value.append(utf8: text)
            case .variable(let variable): append(variable, &value)
            }
        }
        return value.withBytes { !$0.isEmpty && !($0.count == 1 && $0[0] == UInt8(ascii: "0")) }
    }

    /// Appends the variable's value at the end of the request, escaped; false when nginx's is "not found"
    /// (the caller writes `-`). Numbers and times are written as digits, with no string in between.
    func append(_ variable: Variable, escape: LogFormat.Escape, end: RequestEnd, to out: inout LogBytes) -> Bool {
        let request = end.request
        return withUnsafePointer(to: variable) { append($0, escape: escape, end: end, request: request, to: &out) }
    }

    private func append(
        _ pointer: UnsafePointer<Variable>, escape: LogFormat.Escape, end: RequestEnd, request: RequestRecord?,
        to out: inout LogBytes
    ) -> Bool {
        // The request is the one `write` took out of `end` once for the whole line.
        guard request != nil || !Self.readsRequest(pointer) else { return false }
        switch pointer.pointee {
        case .remoteAddr: Self.append(bytes: end.addresses.remoteIPBytes, escape: escape, to: &out)
        case .remotePort: Self.append(end.addresses.remotePort, escape: escape, to: &out)
        case .serverAddr: Self.append(end.addresses.localIP, escape: escape, to: &out)
        case .serverPort: Self.append(end.addresses.localPort, escape: escape, to: &out)
        case .serverName: Self.append(end.serverName, escape: escape, to: &out)
        case .scheme: out.append("http" as StaticString)
        case .host:
            if case .name(let name)? = request?.checkHost() {
                Self.append(name, escape: escape, to: &out)
            } else {
                Self.append(end.serverName, escape: escape, to: &out)
            }
        // A request line nginx could not parse has none of these ("-"), nor has an empty query `$args`.
        case .requestMethod:
            guard let request, request.hasRequestLine else { return false }
            Self.append(request.methodName, escape: escape, to: &out)
        case .requestURI:
            guard let request, request.hasRequestLine else { return false }
            Self.append(request.uri, escape: escape, to: &out)
        case .uri:
            guard let request, request.hasRequestLine else { return false }
            Self.append(Self.path(of: request.uri), escape: escape, to: &out)
        case .args:
            guard let request, request.hasRequestLine else { return false }
            let query = Self.query(of: request.uri)
            guard !query.isEmpty else { return false }
            Self.append(query, escape: escape, to: &out)
        case .request:
            request?.appendRequestLine(to: &out) { bytes, out in Self.appendEscaped(bytes, escape: escape, to: &out) }
        case .httpHeader(let name):
            return request?.appendHeaderValues(
                named: name, lines: headerLines, separator: name == "cookie" ? "; " : ", ", to: &out
            ) {
                bytes, out in Self.appendEscaped(bytes, escape: escape, to: &out)
            } ?? false
        case .argument(let name):
            guard let value = RequestFields.argument(name, in: Self.query(of: request?.uri ?? "")) else {
                return false
            }
            Self.append(value, escape: escape, to: &out)
        case .cookie(let name):
            guard let value = RequestFields.cookie(name, in: request?.headerValues(named: "cookie", lines: headerLines) ?? []) else {
                return false
            }
            Self.append(value, escape: escape, to: &out)
        case .remoteUser:
            guard let authorization = request?.firstHeaderValue(named: "authorization", lines: headerLines),
                let user = RequestFields.basicUser(authorization: authorization)
            else { return false }
            Self.append(user, escape: escape, to: &out)
        case .requestLength:
            Self.appendDecimal(end.requestHeadBytes + end.requestBodyBytes, to: &out)
        case .requestID:
            out.append(utf8: end.requestID?.get() ?? RequestIDSlot(generator: RequestIDGenerator.Shared()).get())
        case .proxyHost, .proxyAddXForwardedFor:
            return false  // the values sent upstream are the request's, not the log's
        case .timeLocal: out.append(clock.timeLocal)
        case .timeISO8601: out.append(clock.timeISO8601)
        case .msec:
            Self.appendDecimal(clock.seconds, to: &out)
            out.append(UInt8(ascii: "."))
            Self.appendThreeDigits(clock.milliseconds, to: &out)
        case .status: Self.appendThreeDigits(end.status, to: &out)
        case .bodyBytesSent: Self.appendDecimal(end.bodyBytesSent, to: &out)
        case .requestTime: Self.appendSeconds(nanoseconds: max(0, end.endedAt - end.startedAt), to: &out)
        case .connection: Self.appendDecimal(Int(truncatingIfNeeded: end.connectionNumber), to: &out)
        case .connectionRequests: Self.appendDecimal(end.requestNumber, to: &out)
        case .upstreamAddr:
            return Self.appendAttempts(end, to: &out) { attempt, out in
                if let bytes = end.addressBytes(of: attempt) {
                    Self.append(bytes: bytes, escape: escape, to: &out)
                } else {
                    out.append(UInt8(ascii: "-"))
                }
            }
        case .upstreamStatus:
            return Self.appendAttempts(end, to: &out) { attempt, out in
                if attempt.status == 0 { out.append(UInt8(ascii: "-")) } else { Self.appendDecimal(attempt.status, to: &out) }
            }
        case .upstreamResponseTime:
            return Self.appendAttempts(end, to: &out) { Self.appendSeconds(nanoseconds: $0.responseNanoseconds, to: &$1) }
        case .upstreamConnectTime:
            return Self.appendAttempts(end, to: &out) { Self.appendSeconds(nanoseconds: $0.connectNanoseconds, to: &$1) }
        case .upstreamHeaderTime:
            return Self.appendAttempts(end, to: &out) { Self.appendSeconds(nanoseconds: $0.headerNanoseconds, to: &$1) }
        case .upstreamBytesReceived:
            return Self.appendAttempts(end, to: &out) { Self.appendDecimal($0.bytesReceived, to: &$1) }
        case .upstreamBytesSent:
            return Self.appendAttempts(end, to: &out) { Self.appendDecimal($0.bytesSent, to: &$1) }
        case .upstreamResponseLength:
            return Self.appendAttempts(end, to: &out) { Self.appendDecimal($0.responseLength, to: &$1) }
        case .bytesSent:
            Self.appendDecimal(end.bytesSent, to: &out)
        case .binaryRemoteAddr:
            end.addresses.remoteBytes.withUnsafeBytes { Self.appendEscaped($0, escape: escape, to: &out) }
        case .sentHTTPHeader(let name):
            guard let head = end.sentHead else { return false }
            return SentHeaders.appendValue(named: name, in: head, to: &out) { bytes, out in
                Self.appendEscaped(bytes, escape: escape, to: &out)
            }
        case .protocolName, .bytesReceived, .sessionTime, .upstreamFirstByteTime, .upstreamSessionTime:
            return false  // the stream module's: the configuration refuses them in http
        case .proxyProtocolAddr, .proxyProtocolPort, .proxyProtocolServerAddr, .proxyProtocolServerPort:
            guard let value = end.addresses.proxyProtocolValue(pointer.pointee) else { return false }
            Self.append(value, escape: escape, to: &out)
        }
        return true
    }

    private static func readsRequest(_ variable: UnsafePointer<Variable>) -> Bool {
        switch variable.pointee {
        case .requestMethod, .requestURI, .uri, .args, .request, .httpHeader, .argument, .cookie, .remoteUser:
            return true
        default: return false
        }
    }

    /// One entry per attempt, joined with ", " as nginx joins them; false without an upstream attempt.
    private static func appendAttempts(
        _ end: RequestEnd, to out: inout LogBytes, _ entry: (AttemptRecord, inout LogBytes) -> Void
    ) -> Bool {
        guard let upstream = end.upstream, !upstream.attempts.isEmpty else { return false }
        var first = true
        upstream.attempts.forEach { attempt in
            if !first { out.append(UInt8(ascii: ","), UInt8(ascii: " ")) }
            first = false
            entry(attempt, &out)
        }
        return true
    }

    /// `0.004`: seconds with milliseconds, as nginx prints its `ngx_msec_t` times; `-` for a step not reached.
    static func appendSeconds(nanoseconds: Int64, to out: inout LogBytes) {
        guard nanoseconds >= 0 else {
            out.append(UInt8(ascii: "-"))
            return
        }
        let milliseconds = Int(nanoseconds / 1_000_000)
        appendDecimal(milliseconds / 1000, to: &out)
        out.append(UInt8(ascii: "."))
        let fraction = milliseconds % 1000
        out.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        out.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(fraction % 10))
    }

    static func appendThreeDigits(_ status: Int, to out: inout LogBytes) {
        let value = status >= 0 && status < 1000 ? status : 0
        out.append(UInt8(ascii: "0") + UInt8(value / 100))
        out.append(UInt8(ascii: "0") + UInt8(value / 10 % 10))
        out.append(UInt8(ascii: "0") + UInt8(value % 10))
    }

    /// Decimal digits, written in place (least significant first, then turned around): no string in between.
    static func appendDecimal(_ value: Int, to out: inout LogBytes) {
        guard value >= 0 else {
            out.append(utf8: String(value))
            return
        }
        if value < 10 {
            out.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        // Digits from the end of a stack buffer (Int.max has 19), then one append.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var index = buffer.count
            var rest = value
            repeat {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            out.append(UnsafeBufferPointer(rebasing: buffer[index...]))
        }
    }

    static func path(of uri: String) -> String {
        guard let question = uri.firstIndex(of: "?") else { return uri }
        return String(uri[..<question])
    }

    static func query(of uri: String) -> String {
        guard let question = uri.firstIndex(of: "?") else { return "" }
        return String(uri[uri.index(after: question)...])
    }

    static func append(bytes: [UInt8], escape: LogFormat.Escape, to out: inout LogBytes) {
        bytes.withUnsafeBytes { appendEscaped($0, escape: escape, to: &out) }
    }

    static func append(_ value: String, escape: LogFormat.Escape, to out: inout LogBytes) {
        let done: Void? = value.utf8.withContiguousStorageIfAvailable {
            appendEscaped(UnsafeRawBufferPointer($0), escape: escape, to: &out)
        }
        if done == nil {
            var value = value
            value.withUTF8 { appendEscaped(UnsafeRawBufferPointer($0), escape: escape, to: &out) }
        }
    }

    /// A byte `escape=default` writes as `\xXX`; JSON escapes the same set, with other spellings.
    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 || byte > 0x7E
    }

    /// Whether any byte of `bytes` is one `needsEscape` picks, eight bytes at a time: a byte with the high bit set,
    /// a byte below 0x20, 0x7F, `"` or `\`. The zero-byte tests (`(v - 0x01…) & ~v & 0x80…`) can mark a byte
    /// above a real match, never one where there is none, so "any" is exact.
    @inline(__always)
    static func anyNeedsEscape(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        while index + 8 <= bytes.count {
            if needsEscape(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) { return true }
            index += 8
        }
        guard index < bytes.count, let base = bytes.baseAddress else { return false }
        // The last one to seven bytes in one word too, the rest of it filled with a byte that needs no escape.
        var word: UInt64 = 0x6161_6161_6161_6161
        withUnsafeMutableBytes(of: &word) { $0.baseAddress?.copyMemory(from: base + index, byteCount: bytes.count - index) }
        return needsEscape(word)
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    @inline(__always)
    private static func hasZeroByte(_ word: UInt64) -> Bool { (word &- ones) & ~word & highs != 0 }

    /// Whether one of the word's eight bytes needs an escape.
    @inline(__always)
    private static func needsEscape(_ word: UInt64) -> Bool {
        word & highs != 0 || (word &- ones &* 0x20) & ~word & highs != 0 || hasZeroByte(word ^ (ones &* 0x7F))
            || hasZeroByte(word ^ (ones &* 0x22)) || hasZeroByte(word ^ (ones &* 0x5C))
    }

    private static let hex: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// nginx's escapes for a variable's value (ngx_http_log_escape, ngx_escape_json).
    static func appendEscaped(_ bytes: UnsafeRawBufferPointer, escape: LogFormat.Escape, to out: inout LogBytes) {
        // The usual value has nothing to escape: one copy.
        if escape == .none || !anyNeedsEscape(bytes) {
            out.append(bytes)
            return
        }
        switch escape {
        case .none:
            out.append(bytes)
        case .default:
            for byte in bytes {
                if needsEscape(byte) {
                    out.append(UInt8(ascii: "\\"), UInt8(ascii: "x"))
                    out.append(hex[Int(byte >> 4)], hex[Int(byte & 0xF)])
                } else {
                    out.append(byte)
                }
            }
        case .json:
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\"), UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"), UInt8(ascii: "\\"))
                case 0x0A: out.append(UInt8(ascii: "\\"), UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "\\"), UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "\\"), UInt8(ascii: "t"))
                case 0x08: out.append(UInt8(ascii: "\\"), UInt8(ascii: "b"))
                case 0x0C: out.append(UInt8(ascii: "\\"), UInt8(ascii: "f"))
                case 0..<0x20:
                    out.append(UInt8(ascii: "\\"), UInt8(ascii: "u"))
                    out.append(UInt8(ascii: "0"), UInt8(ascii: "0"))
                    out.append(hex[Int(byte >> 4)], hex[Int(byte & 0xF)])
                default: out.append(byte)
                }
            }
        }
    }
}
